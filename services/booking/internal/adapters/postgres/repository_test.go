package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	sharedpg "github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/telemetry"
	"github.com/staybook/staybook/shared/testkit"
)

// store is a Repository on a database of its own, with the seed catalogue
// and a count of what its pool sends.
type store struct {
	pool   *pgxpool.Pool
	repo   *postgres.Repository
	hotels map[string]domain.Hotel
	sent   *testkit.SQLCounter
}

func newStore(t *testing.T, maxConns int32) *store {
	t.Helper()
	ctx := testkit.Context(t)
	sent := &testkit.SQLCounter{}
	pool, err := sharedpg.Open(ctx, sharedpg.Config{URL: testkit.Database(t), MaxConns: maxConns, Migrations: postgres.Migrations(),
		Logger: slog.New(slog.DiscardHandler), Tracer: sent})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	s := &store{pool: pool, repo: postgres.NewRepository(pool), hotels: map[string]domain.Hotel{}, sent: sent}
	catalogue, err := s.repo.Catalogue(ctx)
	testkit.Must(t, err)
	for _, h := range catalogue {
		s.hotels[h.ID] = h
	}
	return s
}

// roundTrips returns how many round trips fn costs on s's pool.
func (s *store) roundTrips(fn func()) int64 {
	before := s.sent.RoundTrips.Load()
	fn()
	return s.sent.RoundTrips.Load() - before
}

func bookRoom(hotel, room, checkIn, checkOut, key string) contracts.BookRoom {
	return contracts.BookRoom{
		BookingID: uuid.NewString(), HotelID: hotel, RoomType: room, CheckIn: checkIn, CheckOut: checkOut, Guests: 1,
		GuestName: "Ada Lovelace", GuestEmail: "ada@example.com", RequestedAt: time.Now().UTC(), IdempotencyKeyHash: key,
	}
}

// book settles cmd as the use case does, announcing the booking as stored.
func (s *store) book(t *testing.T, ctx context.Context, cmd contracts.BookRoom) (domain.Booking, bool) {
	t.Helper()
	b, created, err := s.create(ctx, cmd)
	testkit.Must(t, err)
	return b, created
}

func (s *store) create(ctx context.Context, cmd contracts.BookRoom) (domain.Booking, bool, error) {
	now := time.Now().UTC()
	d := domain.Decide(cmd, s.hotels[cmd.HotelID], true, now, 0)
	return s.repo.CreateBooking(ctx, cmd, d, func(b domain.Booking) []contracts.Contract {
		if b.Status == contracts.StatusConfirmed {
			return []contracts.Contract{b.Confirmed(d), b.StatusChanged(now)}
		}
		return []contracts.Contract{b.Rejected(now), b.StatusChanged(now)}
	})
}

func (s *store) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	testkit.Must(t, s.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// storedEvent is an outbox row: components/forwarder's envelope.
type storedEvent struct {
	DestinationTopic string            `json:"destination_topic"`
	Payload          json.RawMessage   `json:"payload"`
	Metadata         map[string]string `json:"metadata"`
}

func (s *store) outbox(t *testing.T) []storedEvent {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT payload FROM watermill_outbox ORDER BY "offset"`)
	testkit.Must(t, err)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storedEvent, error) {
		var e storedEvent
		var payload []byte
		if err := row.Scan(&payload); err != nil {
			return e, err
		}
		return e, json.Unmarshal(payload, &e)
	})
	testkit.Must(t, err)
	return events
}

func (s *store) nightsBooked(t *testing.T, hotel, room, from, to string) map[string]int {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT night::text, booked FROM inventory
		WHERE hotel_id = $1 AND room_type_id = $2 AND night >= $3 AND night < $4`, hotel, room, from, to)
	testkit.Must(t, err)
	booked := map[string]int{}
	var night string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&night, &n}, func() error { booked[night] = n; return nil })
	testkit.Must(t, err)
	return booked
}

// A confirmed booking takes four round trips (BEGIN with the booking's
// INSERT, the rooms, the events, COMMIT) and a task update three (BEGIN
// with the row locked, the UPDATE with the event, COMMIT): the booking
// service's CPU goes mostly to round trips (issue 13).
func TestRoundTrips_FourForANewBookingThreeForATaskUpdate(t *testing.T) {
	t.Parallel()
	s := newStore(t, 1) // one connection: its statements are prepared by the first booking
	ctx := testkit.Context(t)
	s.book(t, ctx, bookRoom("lisbon-tagus-grand", "double", "2031-03-01", "2031-03-03", "warm-up"))
	recordVoucher := func(b *domain.Booking) (bool, []contracts.Contract, error) {
		changed, err := b.SetTask(contracts.TaskVoucher, contracts.TaskDone)
		b.Version++
		return changed, []contracts.Contract{b.StatusChanged(time.Now().UTC())}, err
	}
	_, _, err := s.repo.UpdateBooking(ctx, uuid.NewString(), recordVoucher) // prepares the SELECT; not found
	if !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("update of a booking not stored: %v, want ErrNotFound", err)
	}

	var b domain.Booking
	if n := s.roundTrips(func() {
		b, _ = s.book(t, ctx, bookRoom("lisbon-tagus-grand", "double", "2031-03-10", "2031-03-13", "key-1"))
	}); n != 4 || b.Status != contracts.StatusConfirmed {
		t.Fatalf("a new booking (%s) took %d round trips, want 4", b.Status, n)
	}
	// The first task update on this connection prepares its UPDATE and INSERT.
	_, _, err = s.repo.UpdateBooking(ctx, b.ID, recordVoucher)
	testkit.Must(t, err)
	var changed bool
	if n := s.roundTrips(func() {
		b, changed, err = s.repo.UpdateBooking(ctx, b.ID, func(b *domain.Booking) (bool, []contracts.Contract, error) {
			changed, err := b.SetTask(contracts.TaskEmail, contracts.TaskDone)
			b.Version++
			return changed, []contracts.Contract{b.StatusChanged(time.Now().UTC())}, err
		})
	}); n != 3 || err != nil || !changed {
		t.Fatalf("a task update (changed %v, err %v) took %d round trips, want 3", changed, err, n)
	}
}

// The same command twice stores one booking, takes its rooms once and
// writes its events once; the second answer is the stored booking.
func TestCreateBooking_ACommandDeliveredTwiceStoresOneBooking(t *testing.T) {
	t.Parallel()
	s := newStore(t, 4)
	ctx := testkit.Context(t)
	cmd := bookRoom("paris-opera-palace", "family", "2031-05-01", "2031-05-04", "key-twice")
	first, created := s.book(t, ctx, cmd)
	if !created || first.Status != contracts.StatusConfirmed {
		t.Fatalf("first delivery: created %v, status %s", created, first.Status)
	}
	again, created := s.book(t, ctx, cmd)
	if created || again.ID != cmd.BookingID || again.Version != first.Version || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("second delivery: created %v, %+v; want the stored booking", created, again)
	}
	if n := s.count(t, `SELECT count(*) FROM bookings`); n != 1 {
		t.Fatalf("%d bookings, want 1", n)
	}
	if got := s.nightsBooked(t, "paris-opera-palace", "family", "2031-05-01", "2031-05-04"); len(got) != 3 ||
		got["2031-05-01"] != 1 || got["2031-05-02"] != 1 || got["2031-05-03"] != 1 {
		t.Fatalf("nights booked %v, want one room on each of 3 nights", got)
	}
	if n := len(s.outbox(t)); n != 2 {
		t.Fatalf("%d events in the outbox, want 2 (the first delivery's)", n)
	}
}

// An Idempotency-Key that made another booking rejects the new one
// (idempotency_key_reused): it takes no room and is stored without the key,
// which still finds the first booking.
func TestCreateBooking_AKeyThatMadeAnotherBookingRejectsTheNewOne(t *testing.T) {
	t.Parallel()
	s := newStore(t, 4)
	ctx := testkit.Context(t)
	first, _ := s.book(t, ctx, bookRoom("rome-trastevere-suites", "double", "2031-06-01", "2031-06-03", "key-shared"))
	cmd := bookRoom("rome-trastevere-suites", "double", "2031-07-01", "2031-07-03", "key-shared")
	b, created := s.book(t, ctx, cmd)
	if !created || b.Status != contracts.StatusRejected || b.Reason != contracts.ReasonIdempotencyKeyReused ||
		b.Tasks != domain.InitialTasks(contracts.StatusRejected) {
		t.Fatalf("created %v, %s %s, tasks %+v; want a new idempotency_key_reused rejection", created, b.Status, b.Reason, b.Tasks)
	}
	if got := s.nightsBooked(t, "rome-trastevere-suites", "double", "2031-07-01", "2031-07-03"); got["2031-07-01"] != 0 || got["2031-07-02"] != 0 {
		t.Fatalf("the rejected booking took rooms: %v", got)
	}
	if id, err := s.repo.BookingIDByIdempotencyKey(ctx, "key-shared"); err != nil || id != first.ID {
		t.Fatalf("the key finds %q (%v), want the first booking %s", id, err, first.ID)
	}
	if _, created := s.book(t, ctx, cmd); created {
		t.Fatal("the rejected command delivered again stored another booking")
	}
	if n := len(s.outbox(t)); n != 4 {
		t.Fatalf("%d events in the outbox, want 4 (two per booking)", n)
	}
}

// A stay with one night sold out takes no room on any night and is stored
// as a sold_out rejection, announced as such.
func TestCreateBooking_ANightSoldOutTakesNoRoomOnTheOthers(t *testing.T) {
	t.Parallel()
	s := newStore(t, 4)
	ctx := testkit.Context(t)
	_, err := s.pool.Exec(ctx, `INSERT INTO room_types VALUES ('lisbon-alfama-house', 'attic', 'Attic', 2, 5000, 'EUR', 1)`)
	testkit.Must(t, err)
	s.hotels = map[string]domain.Hotel{}
	catalogue, err := s.repo.Catalogue(ctx)
	testkit.Must(t, err)
	for _, h := range catalogue {
		s.hotels[h.ID] = h
	}
	middle, _ := s.book(t, ctx, bookRoom("lisbon-alfama-house", "attic", "2031-03-11", "2031-03-12", ""))
	if middle.Status != contracts.StatusConfirmed {
		t.Fatalf("the one-night stay: %s %s", middle.Status, middle.Reason)
	}
	b, created := s.book(t, ctx, bookRoom("lisbon-alfama-house", "attic", "2031-03-10", "2031-03-13", ""))
	if !created || b.Status != contracts.StatusRejected || b.Reason != contracts.ReasonSoldOut || b.TotalPrice.Amount != 0 ||
		b.Tasks != domain.InitialTasks(contracts.StatusRejected) {
		t.Fatalf("created %v, %s %s, total %d, tasks %+v; want a sold_out rejection", created, b.Status, b.Reason, b.TotalPrice.Amount, b.Tasks)
	}
	want := map[string]int{"2031-03-10": 0, "2031-03-11": 1, "2031-03-12": 0}
	// (A night without an inventory row has no room booked.)
	if got := s.nightsBooked(t, "lisbon-alfama-house", "attic", "2031-03-10", "2031-03-13"); got["2031-03-10"] != want["2031-03-10"] || got["2031-03-11"] != want["2031-03-11"] || got["2031-03-12"] != want["2031-03-12"] {
		t.Fatalf("nights booked %v, want %v", got, want)
	}
	events := s.outbox(t)
	if len(events) != 4 || events[2].Metadata[contracts.SchemaNameKey] != (contracts.BookingRejected{}).SchemaName() {
		t.Fatalf("outbox %+v; want the rejection announced after the first booking's two events", events)
	}
}

// The events of a transaction are stored as the forwarder reads them: each
// in its envelope with its destination topic, with the trace context of the
// span that wrote it, a child of the caller's.
func TestCreateBooking_EventsAreStoredWithTheirTopicAndTraceContext(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(telemetry.Propagator())
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		tp.Shutdown(context.Background())
	})

	s := newStore(t, 4)
	ctx, span := otel.Tracer("test").Start(testkit.Context(t), "book")
	defer span.End()
	b, _ := s.book(t, ctx, bookRoom("berlin-spree-loft", "double", "2031-08-01", "2031-08-02", ""))
	events := s.outbox(t)
	wantTopics := []string{messaging.EventTopic(messaging.EventBookingConfirmed), messaging.NotificationsExchange}
	if len(events) != 2 {
		t.Fatalf("%d events stored, want 2", len(events))
	}
	for i, e := range events {
		parent := trace.SpanContextFromContext(otel.GetTextMapPropagator().Extract(context.Background(), telemetry.MetadataCarrier(e.Metadata)))
		if e.DestinationTopic != wantTopics[i] || parent.TraceID() != span.SpanContext().TraceID() ||
			e.Metadata[contracts.CorrelationIDKey] != b.ID {
			t.Fatalf("event %d: topic %s, metadata %v; want topic %s in trace %s", i, e.DestinationTopic, e.Metadata, wantTopics[i], span.SpanContext().TraceID())
		}
	}
}

// A task update stores the new state and its event; a change that changes
// nothing writes nothing; a booking not stored yet is ErrNotFound.
func TestUpdateBooking_StoresAChangeWithItsEventAndNothingElse(t *testing.T) {
	t.Parallel()
	s := newStore(t, 4)
	ctx := testkit.Context(t)
	b, _ := s.book(t, ctx, bookRoom("lisbon-tagus-grand", "double", "2031-09-01", "2031-09-02", ""))
	notify := func(b *domain.Booking) (bool, []contracts.Contract, error) {
		changed, err := b.SetTask(contracts.TaskNotification, contracts.TaskDone)
		if err != nil || !changed {
			return false, nil, err
		}
		b.Version++
		return true, []contracts.Contract{b.StatusChanged(time.Now().UTC())}, nil
	}
	updated, changed, err := s.repo.UpdateBooking(ctx, b.ID, notify)
	if err != nil || !changed || updated.Version != 2 || updated.Tasks.Notification != contracts.TaskDone || !updated.UpdatedAt.After(b.UpdatedAt) {
		t.Fatalf("changed %v, err %v, %+v", changed, err, updated)
	}
	stored, err := s.repo.Get(ctx, b.ID)
	testkit.Must(t, err)
	if stored.Version != 2 || stored.Tasks != updated.Tasks || !stored.UpdatedAt.Equal(updated.UpdatedAt) {
		t.Fatalf("stored %+v, want %+v", stored, updated)
	}
	if _, changed, err := s.repo.UpdateBooking(ctx, b.ID, notify); err != nil || changed {
		t.Fatalf("the same change again: changed %v, err %v", changed, err)
	}
	if events := s.outbox(t); len(events) != 3 || events[2].DestinationTopic != messaging.NotificationsExchange {
		t.Fatalf("outbox %+v; want the booking's two events and one BookingStatusChanged", events)
	}
	if _, _, err := s.repo.UpdateBooking(ctx, uuid.NewString(), notify); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("a booking not stored: %v, want ErrNotFound", err)
	}
}

// Overlapping stays booked at once on a room type with three rooms: none
// fails (the nights are locked in night order: no deadlock), no night is
// oversold, and each night's count is the confirmed stays that include it.
func TestCreateBooking_OverlappingStaysAtOnceSellEachRoomOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t, 8)
	ctx := testkit.Context(t)
	_, err := s.pool.Exec(ctx, `INSERT INTO room_types VALUES ('berlin-spree-loft', 'attic', 'Attic', 2, 5000, 'EUR', 3)`)
	testkit.Must(t, err)
	catalogue, err := s.repo.Catalogue(ctx)
	testkit.Must(t, err)
	for _, h := range catalogue {
		s.hotels[h.ID] = h
	}
	cmds := make([]contracts.BookRoom, 80)
	for i := range cmds { // stays of 1 to 4 nights from 2031-04-01 to 2031-04-06
		in := time.Date(2031, 4, 1+i%3, 0, 0, 0, 0, time.UTC)
		cmds[i] = bookRoom("berlin-spree-loft", "attic", in.Format(time.DateOnly), in.AddDate(0, 0, 1+i%4).Format(time.DateOnly), "")
	}
	booked := make([]domain.Booking, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(cmds); i += 8 {
				booked[i], _, errs[i] = s.create(ctx, cmds[i])
			}
		})
	}
	wg.Wait()
	want := map[string]int{}
	confirmed := 0
	for i, b := range booked {
		switch {
		case errs[i] != nil:
			t.Fatalf("booking %d: %v", i, errs[i])
		case b.Status == contracts.StatusConfirmed:
			confirmed++
			for n := range 1 + i%4 {
				want[time.Date(2031, 4, 1+i%3+n, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)]++
			}
		case b.Reason != contracts.ReasonSoldOut:
			t.Fatalf("booking %d: %s %s", i, b.Status, b.Reason)
		}
	}
	got := s.nightsBooked(t, "berlin-spree-loft", "attic", "2031-04-01", "2031-04-08")
	for _, night := range []string{"2031-04-01", "2031-04-02", "2031-04-03", "2031-04-04", "2031-04-05", "2031-04-06"} {
		if got[night] != want[night] || got[night] > 3 {
			t.Fatalf("night %s: %d rooms booked, %d confirmed stays include it (3 rooms)", night, got[night], want[night])
		}
	}
	if confirmed < 3 {
		t.Fatalf("%d stays confirmed, want at least 3 (each night has 3 rooms)", confirmed)
	}
}

// OnCommit is called after each commit of a transaction that writes
// events (a new booking, a task update), so that the outbox forwarder
// reads them at once, and not for one that fails and rolls back.
func TestOnCommit_CalledAfterEachCommitThatWritesEvents(t *testing.T) {
	t.Parallel()
	s := newStore(t, 4)
	var commits atomic.Int64
	repo := postgres.NewRepository(s.pool, postgres.OnCommit(func() { commits.Add(1) }))
	s.repo = repo
	ctx := testkit.Context(t)
	b, _ := s.book(t, ctx, bookRoom("lisbon-tagus-grand", "double", "2031-10-01", "2031-10-02", ""))
	if n := commits.Load(); n != 1 {
		t.Fatalf("after a booking committed: OnCommit called %d times, want 1", n)
	}
	notify := func(b *domain.Booking) (bool, []contracts.Contract, error) {
		changed, err := b.SetTask(contracts.TaskNotification, contracts.TaskDone)
		b.Version++
		return changed, []contracts.Contract{b.StatusChanged(time.Now().UTC())}, err
	}
	if _, changed, err := repo.UpdateBooking(ctx, b.ID, notify); err != nil || !changed {
		t.Fatalf("task update: changed %v, err %v", changed, err)
	}
	if n := commits.Load(); n != 2 {
		t.Fatalf("after a task update committed: OnCommit called %d times, want 2", n)
	}
	errChange := errors.New("the change fails")
	failing := func(*domain.Booking) (bool, []contracts.Contract, error) { return false, nil, errChange }
	if _, _, err := repo.UpdateBooking(ctx, b.ID, failing); !errors.Is(err, errChange) {
		t.Fatalf("a failing change: %v, want %v", err, errChange)
	}
	if _, _, err := repo.UpdateBooking(ctx, uuid.NewString(), notify); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("a booking not stored: %v, want ErrNotFound", err)
	}
	if n := commits.Load(); n != 2 {
		t.Fatalf("after two transactions rolled back: OnCommit called %d times, want still 2", n)
	}
}
