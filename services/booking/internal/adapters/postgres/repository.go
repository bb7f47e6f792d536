// Package postgres stores hotels, inventory and bookings in the booking
// service's PostgreSQL database, and writes the booking's events to the
// transactional outbox in the same transaction as the change they announce.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/telemetry"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the schema and seed catalogue, for postgres.Open.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Repository is the booking service's storage (app.Repository).
type Repository struct {
	pool *pgxpool.Pool
	// bookingTx begins CreateBooking's transactions.
	bookingTx Beginner
	// onCommit runs after each commit of a transaction that may have
	// written events (see OnCommit).
	onCommit func()
}

// Beginner sends the batch that begins a transaction (one whose first
// query pgx.Batch.BeginTx queued), as a *pgxpool.Pool does: the BEGIN
// travels with the transaction's first statements, in one round trip.
type Beginner interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Option configures a Repository.
type Option func(*Repository)

// BookingTransactionsFrom makes CreateBooking begin its transactions with b
// instead of the pool. b must send them on the Repository's pool.
func BookingTransactionsFrom(b Beginner) Option {
	return func(r *Repository) { r.bookingTx = b }
}

// OnCommit has fn called after each commit of CreateBooking and
// UpdateBooking, the transactions that write events to the outbox, so that
// the service's outbox forwarder reads them at once (outbox.Commits's
// Committed). Some of those commits wrote no event (a duplicate command, a
// change that changed nothing): a spurious call costs the forwarder one
// empty read, less than telling them apart here.
func OnCommit(fn func()) Option {
	return func(r *Repository) { r.onCommit = fn }
}

// NewRepository returns a Repository on pool.
func NewRepository(pool *pgxpool.Pool, opts ...Option) *Repository {
	r := &Repository{pool: pool, bookingTx: pool, onCommit: func() {}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// transaction begins a transaction by sending first (which must begin with
// first.BeginTx) through db, then runs rest in it and commits, and then
// calls onCommit; it rolls back if any of it fails. Every round trip counts:
// a booking's database work is mostly waiting for them, and each costs
// system calls on both sides.
func (r *Repository) transaction(ctx context.Context, db Beginner, first *pgx.Batch, rest func(tx pgx.Tx) error) error {
	br := db.SendBatch(ctx, first)
	tx := br.Tx()
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if err := br.Close(); err != nil {
		return err
	}
	if err := rest(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	r.onCommit()
	return nil
}

// Catalogue returns every hotel with its room types.
func (r *Repository) Catalogue(ctx context.Context) ([]domain.Hotel, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT h.id, h.name, h.city, h.address, h.stars,
		       rt.id, rt.name, rt.capacity, rt.price_per_night, rt.currency, rt.total_rooms
		FROM hotels h JOIN room_types rt ON rt.hotel_id = h.id
		ORDER BY h.city, h.name, rt.price_per_night, rt.id`)
	if err != nil {
		return nil, fmt.Errorf("query catalogue: %w", err)
	}
	defer rows.Close()
	var hotels []domain.Hotel
	index := map[string]int{}
	for rows.Next() {
		var h domain.Hotel
		var rt domain.RoomType
		if err := rows.Scan(&h.ID, &h.Name, &h.City, &h.Address, &h.Stars,
			&rt.ID, &rt.Name, &rt.Capacity, &rt.PricePerNight, &rt.Currency, &rt.TotalRooms); err != nil {
			return nil, fmt.Errorf("scan catalogue: %w", err)
		}
		i, ok := index[h.ID]
		if !ok {
			i = len(hotels)
			index[h.ID] = i
			hotels = append(hotels, h)
		}
		hotels[i].RoomTypes = append(hotels[i].RoomTypes, rt)
	}
	return hotels, rows.Err()
}

// Availability returns, per room type of the hotel, the rooms free on every night of stay.
func (r *Repository) Availability(ctx context.Context, hotelID string, stay domain.Stay) (map[string]int, error) {
	rows, err := r.pool.Query(ctx, `
		SELECT rt.id, rt.total_rooms - coalesce(max(i.booked), 0)
		FROM room_types rt
		LEFT JOIN inventory i ON i.hotel_id = rt.hotel_id AND i.room_type_id = rt.id
		     AND i.night >= $2 AND i.night < $3
		WHERE rt.hotel_id = $1
		GROUP BY rt.id, rt.total_rooms`, hotelID, stay.CheckIn, stay.CheckOut)
	if err != nil {
		return nil, fmt.Errorf("query availability: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var free int
		if err := rows.Scan(&id, &free); err != nil {
			return nil, err
		}
		out[id] = max(free, 0)
	}
	return out, rows.Err()
}

const bookingColumns = `id::text, hotel_id, room_type, check_in, check_out, guests, guest_name, guest_email,
	status, reason, total_amount, currency, version, task_voucher, task_email, task_notification,
	coalesce(requested_at, created_at), created_at, updated_at`

func scanBooking(row pgx.Row) (domain.Booking, error) {
	var b domain.Booking
	err := row.Scan(&b.ID, &b.HotelID, &b.RoomType, &b.CheckIn, &b.CheckOut, &b.Guests, &b.GuestName, &b.GuestEmail,
		&b.Status, &b.Reason, &b.TotalPrice.Amount, &b.TotalPrice.Currency, &b.Version,
		&b.Tasks.Voucher, &b.Tasks.Email, &b.Tasks.Notification, &b.RequestedAt, &b.CreatedAt, &b.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, app.ErrNotFound
	}
	return b, err
}

// Get returns the booking with id.
func (r *Repository) Get(ctx context.Context, id string) (domain.Booking, error) {
	b, err := scanBooking(r.pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1`, id))
	if err != nil && !errors.Is(err, app.ErrNotFound) {
		return b, fmt.Errorf("get booking %s: %w", id, err)
	}
	return b, err
}

// BookingIDByIdempotencyKey returns the ID of the booking made with the key's hash.
func (r *Repository) BookingIDByIdempotencyKey(ctx context.Context, keyHash string) (string, error) {
	var id string
	err := r.pool.QueryRow(ctx, `SELECT id::text FROM bookings WHERE idempotency_key_hash = $1`, keyHash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", app.ErrNotFound
	}
	return id, err
}

// CreateBooking stores the booking of cmd as decided, in one transaction:
// the booking row (nothing at all if a booking with that ID exists: then the
// stored booking is returned with created false), a room on every night of
// the stay (all or none; none free on some night turns the decision into a
// sold_out rejection), and the events announce returns, in the outbox.
//
// A new confirmed booking takes four round trips: BEGIN with the booking's
// INSERT, the rooms, the events, COMMIT.
func (r *Repository) CreateBooking(ctx context.Context, cmd contracts.BookRoom, d domain.Decision, announce app.Announce) (domain.Booking, bool, error) {
	var ins inserted
	first := &pgx.Batch{}
	first.BeginTx(pgx.TxOptions{})
	queueInsertBooking(first, cmd, d, keyHash(cmd), &ins)
	err := r.transaction(ctx, r.bookingTx, first, func(tx pgx.Tx) (err error) {
		if !ins.ok {
			if err = insertWithKeyTaken(ctx, tx, cmd, d, &ins); err != nil || !ins.ok {
				return err // a duplicate command writes nothing
			}
		}
		if ins.b.Status == contracts.StatusConfirmed {
			if ins.b, err = takeRoomsOrReject(ctx, tx, ins.b, d); err != nil {
				return err
			}
		}
		return writeEvents(ctx, tx, announce(ins.b))
	})
	if err != nil {
		return ins.b, false, err
	}
	if !ins.ok {
		b, err := r.Get(ctx, cmd.BookingID)
		return b, false, err
	}
	return ins.b, true, nil
}

// inserted is the booking an INSERT stored (ok false: it stored none).
type inserted struct {
	b  domain.Booking
	ok bool
}

// queueInsertBooking queues the INSERT of the booking of cmd as d decided,
// with keyHash, into batch; its result lands in out. It inserts nothing
// when a booking holds the booking's ID or keyHash already.
func queueInsertBooking(batch *pgx.Batch, cmd contracts.BookRoom, d domain.Decision, keyHash *string, out *inserted) {
	status := contracts.StatusConfirmed
	if d.Reject != "" {
		status = contracts.StatusRejected
	}
	tasks := domain.InitialTasks(status)
	batch.Queue(`
		INSERT INTO bookings (id, hotel_id, room_type, check_in, check_out, guests, guest_name, guest_email,
			status, reason, total_amount, currency, idempotency_key_hash, task_voucher, task_email, task_notification, requested_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT DO NOTHING
		RETURNING `+bookingColumns,
		cmd.BookingID, cmd.HotelID, cmd.RoomType, cmd.CheckIn, cmd.CheckOut, cmd.Guests, cmd.GuestName, cmd.GuestEmail,
		status, d.Reject, d.Total.Amount, d.Total.Currency, keyHash, tasks.Voucher, tasks.Email, tasks.Notification, nullTime(cmd.RequestedAt),
	).QueryRow(func(row pgx.Row) error {
		b, err := scanBooking(row)
		switch {
		case errors.Is(err, app.ErrNotFound): // ON CONFLICT DO NOTHING: no row
			return nil
		case err != nil:
			return fmt.Errorf("insert booking: %w", err)
		}
		*out = inserted{b: b, ok: true}
		return nil
	})
}

// insertWithKeyTaken settles a booking whose INSERT stored nothing: its ID
// or its Idempotency-Key is taken. The ID taken is this command delivered
// again (out stays not ok). The key taken made another booking: this one
// is stored rejected, idempotency_key_reused, without the key.
func insertWithKeyTaken(ctx context.Context, tx pgx.Tx, cmd contracts.BookRoom, d domain.Decision, out *inserted) error {
	var stored bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bookings WHERE id = $1)`, cmd.BookingID).Scan(&stored); err != nil || stored {
		return err
	}
	d.Reject = contracts.ReasonIdempotencyKeyReused
	batch := &pgx.Batch{}
	queueInsertBooking(batch, cmd, d, nil, out)
	return tx.SendBatch(ctx, batch).Close()
}

// keyHash is the Idempotency-Key hash to store with cmd's booking (nil
// without a key).
func keyHash(cmd contracts.BookRoom) *string {
	if cmd.IdempotencyKeyHash == "" {
		return nil
	}
	return &cmd.IdempotencyKeyHash
}

// takeRoomsOrReject takes a room on every night of the confirmed booking
// b's stay; if some night has none free, it turns b into a sold_out
// rejection.
func takeRoomsOrReject(ctx context.Context, tx pgx.Tx, b domain.Booking, d domain.Decision) (domain.Booking, error) {
	ok, err := takeRooms(ctx, tx, b.HotelID, b.RoomType, d.Stay, d.RoomType.TotalRooms)
	if err != nil || ok {
		return b, err
	}
	tasks := domain.InitialTasks(contracts.StatusRejected)
	b, err = scanBooking(tx.QueryRow(ctx, `
		UPDATE bookings SET status = $2, reason = $3, total_amount = 0, currency = '',
			task_voucher = $4, task_email = $5, task_notification = $6
		WHERE id = $1
		RETURNING `+bookingColumns, b.ID, contracts.StatusRejected, contracts.ReasonSoldOut, tasks.Voucher, tasks.Email, tasks.Notification))
	if err != nil {
		return b, fmt.Errorf("reject sold out booking: %w", err)
	}
	return b, nil
}

// takeRooms takes one room of the type on every night of stay, or none, in
// one round trip: the first statement creates the nights' inventory rows
// that do not exist yet, the second takes a room on each night only if
// every night has one free. It locks the nights in night order, so two
// overlapping stays cannot deadlock on each other (PostgreSQL may still
// report one; callers retry).
func takeRooms(ctx context.Context, tx pgx.Tx, hotelID, roomType string, stay domain.Stay, total int) (bool, error) {
	batch := &pgx.Batch{}
	batch.Queue(`
		INSERT INTO inventory (hotel_id, room_type_id, night, total)
		SELECT $1, $2, night::date, $5
		FROM generate_series($3::date, $4::date - 1, interval '1 day') AS night
		ON CONFLICT DO NOTHING`, hotelID, roomType, stay.CheckIn, stay.CheckOut, total)
	var taken int64
	batch.Queue(`
		WITH stay AS ( -- the stay's nights, locked in night order
			SELECT booked < total AS free FROM inventory
			WHERE hotel_id = $1 AND room_type_id = $2 AND night >= $3 AND night < $4
			ORDER BY night FOR UPDATE)
		UPDATE inventory SET booked = booked + 1
		WHERE hotel_id = $1 AND room_type_id = $2 AND night >= $3 AND night < $4
		AND (SELECT count(*) FROM stay WHERE free) = $5 -- a room free on every night, or none taken`,
		hotelID, roomType, stay.CheckIn, stay.CheckOut, stay.Nights(),
	).Exec(func(tag pgconn.CommandTag) error {
		taken = tag.RowsAffected()
		return nil
	})
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return false, fmt.Errorf("take rooms: %w", err)
	}
	return taken == int64(stay.Nights()), nil
}

// outboxEvents publishes events, each to its topic (messaging.PublishTopic),
// through an event bus that collects them to be written to the outbox in
// one INSERT. Each event gets a span whose context travels inside the
// stored message, so the forwarder continues the trace.
func outboxEvents(ctx context.Context, events []contracts.Contract) (*outbox.Events, error) {
	var out outbox.Events
	bus, err := messaging.EventBus(telemetry.Publisher(out.Publisher(), "postgresql"))
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		if err := bus.Publish(ctx, ev); err != nil {
			return nil, fmt.Errorf("write %s to the outbox: %w", ev.SchemaName(), err)
		}
	}
	return &out, nil
}

// writeEvents writes events to the outbox in tx, in one INSERT.
func writeEvents(ctx context.Context, tx pgx.Tx, events []contracts.Contract) error {
	out, err := outboxEvents(ctx, events)
	if err != nil {
		return err
	}
	if err := out.Write(tx); err != nil {
		return fmt.Errorf("write %d events to the outbox: %w", out.Len(), err)
	}
	return nil
}

// UpdateBooking loads the booking with id for update and applies change; if
// change reports a change, it stores the booking's state, version and tasks
// (updated_at set to now) and writes change's events to the outbox, in one
// transaction of three round trips: BEGIN with the SELECT ... FOR UPDATE,
// the UPDATE with the events' INSERT, COMMIT.
func (r *Repository) UpdateBooking(ctx context.Context, id string, change app.Change) (domain.Booking, bool, error) {
	var b domain.Booking
	found, changed := false, false
	first := &pgx.Batch{}
	first.BeginTx(pgx.TxOptions{})
	first.Queue(`SELECT `+bookingColumns+` FROM bookings WHERE id = $1 FOR UPDATE`, id).QueryRow(func(row pgx.Row) error {
		var err error
		b, err = scanBooking(row)
		found = err == nil
		if errors.Is(err, app.ErrNotFound) {
			return nil // an expected answer: as the batch's error, pgx would drop its cached statements
		}
		return err
	})
	err := r.transaction(ctx, r.pool, first, func(tx pgx.Tx) error {
		if !found {
			return app.ErrNotFound
		}
		var events []contracts.Contract
		var err error
		if changed, events, err = change(&b); err != nil || !changed {
			return err
		}
		return storeChange(ctx, tx, &b, events)
	})
	if err != nil {
		return b, false, err
	}
	return b, changed, nil
}

// storeChange writes b's new state and the events announcing it, in one
// round trip, and sets b.UpdatedAt as stored.
func storeChange(ctx context.Context, tx pgx.Tx, b *domain.Booking, events []contracts.Contract) error {
	batch := &pgx.Batch{}
	batch.Queue(`
		UPDATE bookings SET status = $2, reason = $3, task_voucher = $4, task_email = $5, task_notification = $6,
			version = $7, updated_at = now()
		WHERE id = $1 RETURNING updated_at`,
		b.ID, b.Status, b.Reason, b.Tasks.Voucher, b.Tasks.Email, b.Tasks.Notification, b.Version,
	).QueryRow(func(row pgx.Row) error { return row.Scan(&b.UpdatedAt) })
	out, err := outboxEvents(ctx, events)
	if err != nil {
		return err
	}
	if err := out.Queue(batch); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("update booking: %w", err)
	}
	return nil
}

// Reset deletes every booking, the inventory taken and the outbox: the seed
// catalogue is back with every room free (make reset).
func (r *Repository) Reset(ctx context.Context) error {
	if _, err := r.pool.Exec(ctx, `TRUNCATE bookings, inventory`); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	var exists bool
	if err := r.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, outbox.Table).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := r.pool.Exec(ctx, `DELETE FROM `+outbox.Table)
	return err
}

// Counts returns how many bookings are stored, by status (load test checks).
func (r *Repository) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := r.pool.Query(ctx, `SELECT status, count(*) FROM bookings GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
