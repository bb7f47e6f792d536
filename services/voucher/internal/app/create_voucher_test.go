package app_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// memoryStore is an in-memory VoucherStore.
type memoryStore struct {
	mu   sync.Mutex
	recs map[string]domain.Record
	err  error
}

func newMemoryStore() *memoryStore { return &memoryStore{recs: map[string]domain.Record{}} }

func (s *memoryStore) Find(_ context.Context, id string) (domain.Record, error) {
	rec, err := s.Get(context.Background(), id)
	rec.PDF = nil
	return rec, err
}

func (s *memoryStore) Get(_ context.Context, id string) (domain.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return domain.Record{}, s.err
	}
	rec, ok := s.recs[id]
	if !ok {
		return domain.Record{}, domain.ErrNotFound
	}
	return rec, nil
}

func (s *memoryStore) Save(_ context.Context, rec domain.Record) (domain.Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return domain.Record{}, false, s.err
	}
	if old, ok := s.recs[rec.BookingID]; ok {
		old.PDF = nil
		return old, false, nil
	}
	sum := sha256.Sum256(rec.PDF)
	rec.SizeBytes, rec.SHA256 = len(rec.PDF), sum[:]
	s.recs[rec.BookingID] = rec
	meta := rec
	meta.PDF = nil
	return meta, true, nil
}

type countingRenderer struct {
	mu    sync.Mutex
	calls int
}

func (r *countingRenderer) Render(_ context.Context, v domain.Voucher) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return []byte("%PDF-" + v.BookingID), nil
}

type recordingEvents struct {
	mu   sync.Mutex
	sent []contracts.VoucherCreated
	err  error
}

func (e *recordingEvents) Publish(_ context.Context, event any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return e.err
	}
	ev, ok := event.(contracts.VoucherCreated)
	if !ok {
		return fmt.Errorf("unexpected event %T", event)
	}
	e.sent = append(e.sent, ev)
	return nil
}

type fixture struct {
	store    *memoryStore
	renderer *countingRenderer
	events   *recordingEvents
	uc       *app.CreateVoucher
	now      time.Time
}

func newFixture() *fixture {
	f := &fixture{store: newMemoryStore(), renderer: &countingRenderer{}, events: &recordingEvents{},
		now: time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC)}
	f.uc = app.NewCreateVoucher(app.Config{Store: f.store, Renderer: f.renderer, Events: f.events,
		Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)})
	return f
}

func confirmed() contracts.BookingConfirmed {
	return contracts.BookingConfirmed{
		BookingID: "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01", HotelID: "h1", HotelName: "Hotel Aurora",
		HotelAddress: "Karl Johans gate 1", HotelCity: "Oslo", RoomType: "rt1", RoomTypeName: "Double",
		CheckIn: "2025-06-02", CheckOut: "2025-06-05", Nights: 3, Guests: 2,
		GuestName: "Дмитрий Иванов", GuestEmail: "d@example.com",
		TotalPrice: contracts.Money{Amount: 123450, Currency: "EUR"},
	}
}

func TestCreateVoucher_NewBookingIsRenderedStoredAndAnnounced(t *testing.T) {
	t.Parallel()
	f := newFixture()
	got, err := f.uc.Handle(context.Background(), confirmed())
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.VoucherCreated{
		BookingID: "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01", GuestName: "Дмитрий Иванов", GuestEmail: "d@example.com",
		HotelName: "Hotel Aurora", CheckIn: "2025-06-02", CheckOut: "2025-06-05",
		VoucherURL: "/api/bookings/3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01/voucher.pdf",
		SizeBytes:  len("%PDF-3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01"), CreatedAt: f.now,
	}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if f.renderer.calls != 1 || len(f.events.sent) != 1 || f.events.sent[0] != want {
		t.Fatalf("renders %d, events %+v", f.renderer.calls, f.events.sent)
	}
}

func TestCreateVoucher_RedeliveryAnnouncesAgainWithoutRenderingAgain(t *testing.T) {
	t.Parallel()
	f := newFixture()
	first, err := f.uc.Handle(context.Background(), confirmed())
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	second, err := f.uc.Handle(context.Background(), confirmed())
	if err != nil {
		t.Fatal(err)
	}
	if f.renderer.calls != 1 {
		t.Errorf("rendered %d times, want 1", f.renderer.calls)
	}
	if len(f.events.sent) != 2 || second != first {
		t.Errorf("events %+v; want the first voucher announced twice", f.events.sent)
	}
}

func TestCreateVoucher_FailedPublishIsTransientAndKeepsTheVoucher(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.events.err = errors.New("broker unreachable")
	_, err := f.uc.Handle(context.Background(), confirmed())
	if err == nil || errors.Is(err, app.ErrInvalidBooking) {
		t.Fatalf("err = %v; want a transient error", err)
	}
	f.events.err = nil
	if _, err := f.uc.Handle(context.Background(), confirmed()); err != nil {
		t.Fatal(err)
	}
	if f.renderer.calls != 1 || len(f.events.sent) != 1 {
		t.Fatalf("renders %d, events %d; want 1 and 1", f.renderer.calls, len(f.events.sent))
	}
}

func TestCreateVoucher_InvalidBookingIsPermanentAndRendersNothing(t *testing.T) {
	t.Parallel()
	f := newFixture()
	ev := confirmed()
	ev.CheckOut = "2025-06-01"
	_, err := f.uc.Handle(context.Background(), ev)
	var ve *domain.ValidationError
	if !errors.Is(err, app.ErrInvalidBooking) || !errors.As(err, &ve) || ve.Field != "check_out" {
		t.Fatalf("err = %v; want ErrInvalidBooking on check_out", err)
	}
	if f.renderer.calls != 0 || len(f.events.sent) != 0 {
		t.Fatal("an invalid booking was rendered or announced")
	}
}

func TestCreateVoucher_StoreFailureIsTransient(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.store.err = errors.New("connection refused")
	if _, err := f.uc.Handle(context.Background(), confirmed()); err == nil || errors.Is(err, app.ErrInvalidBooking) {
		t.Fatalf("err = %v; want a transient error", err)
	}
	if len(f.events.sent) != 0 {
		t.Fatal("announced a voucher that is not stored")
	}
}

func TestCreate_DirectModeStoresButPublishesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture()
	ev, created, err := f.uc.Create(context.Background(), confirmed())
	if err != nil || !created || ev.SizeBytes == 0 {
		t.Fatalf("got %+v, %v, %v", ev, created, err)
	}
	_, created, err = f.uc.Create(context.Background(), confirmed())
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v; want the existing voucher", created, err)
	}
	if len(f.events.sent) != 0 || f.renderer.calls != 1 {
		t.Fatalf("events %d, renders %d", len(f.events.sent), f.renderer.calls)
	}
}

func TestVouchers_IDThatIsNotABookingIDIsNotFound(t *testing.T) {
	t.Parallel()
	q := app.NewVouchers(newMemoryStore())
	if _, err := q.PDF(context.Background(), "../etc/passwd"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}
