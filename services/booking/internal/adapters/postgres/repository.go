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
}

// Beginner begins a transaction (a *pgxpool.Pool does).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Option configures a Repository.
type Option func(*Repository)

// BookingTransactionsFrom makes CreateBooking begin its transactions with b
// instead of the pool. b must begin them on the Repository's pool.
func BookingTransactionsFrom(b Beginner) Option {
	return func(r *Repository) { r.bookingTx = b }
}

// NewRepository returns a Repository on pool.
func NewRepository(pool *pgxpool.Pool, opts ...Option) *Repository {
	r := &Repository{pool: pool, bookingTx: pool}
	for _, o := range opts {
		o(r)
	}
	return r
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
func (r *Repository) CreateBooking(ctx context.Context, cmd contracts.BookRoom, d domain.Decision, announce app.Announce) (domain.Booking, bool, error) {
	var b domain.Booking
	created := false
	err := pgx.BeginFunc(ctx, r.bookingTx, func(tx pgx.Tx) error {
		var err error
		if created, err = insertBooking(ctx, tx, cmd, d); err != nil || !created {
			return err // a duplicate command writes nothing
		}
		b, err = scanBooking(tx.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1`, cmd.BookingID))
		if err != nil {
			return fmt.Errorf("read booking back: %w", err)
		}
		return publishAll(ctx, tx, announce(b))
	})
	if err != nil {
		return b, false, err
	}
	if !created {
		b, err = r.Get(ctx, cmd.BookingID)
		return b, false, err
	}
	return b, true, nil
}

// insertBooking inserts the booking of cmd as d decided, unless a booking
// with its ID exists (then it reports false and writes nothing). A decision
// to confirm takes a room on every night of the stay, or ends rejected:
// idempotency_key_reused if the key made another booking, sold_out if some
// night has no room free.
func insertBooking(ctx context.Context, tx pgx.Tx, cmd contracts.BookRoom, d domain.Decision) (bool, error) {
	keyHash, err := claimIdempotencyKey(ctx, tx, cmd, &d)
	if err != nil {
		return false, err
	}
	status := contracts.StatusConfirmed
	if d.Reject != "" {
		status = contracts.StatusRejected
	}
	tasks := domain.InitialTasks(status)
	tag, err := tx.Exec(ctx, `
		INSERT INTO bookings (id, hotel_id, room_type, check_in, check_out, guests, guest_name, guest_email,
			status, reason, total_amount, currency, idempotency_key_hash, task_voucher, task_email, task_notification, requested_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (id) DO NOTHING`,
		cmd.BookingID, cmd.HotelID, cmd.RoomType, cmd.CheckIn, cmd.CheckOut, cmd.Guests, cmd.GuestName, cmd.GuestEmail,
		status, d.Reject, d.Total.Amount, d.Total.Currency, keyHash, tasks.Voucher, tasks.Email, tasks.Notification, nullTime(cmd.RequestedAt))
	if err != nil {
		return false, fmt.Errorf("insert booking: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if status == contracts.StatusConfirmed {
		return true, takeRoomsOrReject(ctx, tx, cmd, d)
	}
	return true, nil
}

// claimIdempotencyKey returns the key hash to store with cmd's booking: nil
// without a key, or when the key made another booking already (then d
// becomes an idempotency_key_reused rejection).
func claimIdempotencyKey(ctx context.Context, tx pgx.Tx, cmd contracts.BookRoom, d *domain.Decision) (*string, error) {
	if cmd.IdempotencyKeyHash == "" {
		return nil, nil
	}
	var other string
	err := tx.QueryRow(ctx, `SELECT id::text FROM bookings WHERE idempotency_key_hash = $1`, cmd.IdempotencyKeyHash).Scan(&other)
	switch {
	case err == nil && other != cmd.BookingID:
		d.Reject = contracts.ReasonIdempotencyKeyReused
		return nil, nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	return &cmd.IdempotencyKeyHash, nil
}

// takeRoomsOrReject takes a room on every night of the confirmed booking's
// stay; if some night has none free, it turns the booking into a sold_out
// rejection.
func takeRoomsOrReject(ctx context.Context, tx pgx.Tx, cmd contracts.BookRoom, d domain.Decision) error {
	ok, err := takeRooms(ctx, tx, cmd.HotelID, cmd.RoomType, d.Stay, d.RoomType.TotalRooms)
	if err != nil || ok {
		return err
	}
	tasks := domain.InitialTasks(contracts.StatusRejected)
	if _, err := tx.Exec(ctx, `
		UPDATE bookings SET status = $2, reason = $3, total_amount = 0, currency = '',
			task_voucher = $4, task_email = $5, task_notification = $6
		WHERE id = $1`, cmd.BookingID, contracts.StatusRejected, contracts.ReasonSoldOut, tasks.Voucher, tasks.Email, tasks.Notification); err != nil {
		return fmt.Errorf("reject sold out booking: %w", err)
	}
	return nil
}

// takeRooms takes one room of the type on every night of stay, or none.
// Rows are locked in night order, so two overlapping stays cannot deadlock
// on each other (PostgreSQL may still report one; callers retry).
func takeRooms(ctx context.Context, tx pgx.Tx, hotelID, roomType string, stay domain.Stay, total int) (bool, error) {
	sp, err := tx.Begin(ctx) // a savepoint: a sold-out night undoes the others
	if err != nil {
		return false, fmt.Errorf("savepoint: %w", err)
	}
	defer sp.Rollback(ctx)
	if _, err := sp.Exec(ctx, `
		INSERT INTO inventory (hotel_id, room_type_id, night, total)
		SELECT $1, $2, night::date, $5
		FROM generate_series($3::date, $4::date - 1, interval '1 day') AS night
		ON CONFLICT DO NOTHING`, hotelID, roomType, stay.CheckIn, stay.CheckOut, total); err != nil {
		return false, fmt.Errorf("create inventory rows: %w", err)
	}
	tag, err := sp.Exec(ctx, `
		UPDATE inventory SET booked = booked + 1
		WHERE (hotel_id, room_type_id, night) IN (
			SELECT hotel_id, room_type_id, night FROM inventory
			WHERE hotel_id = $1 AND room_type_id = $2 AND night >= $3 AND night < $4
			ORDER BY night FOR UPDATE)
		AND booked < total`, hotelID, roomType, stay.CheckIn, stay.CheckOut)
	if err != nil {
		return false, fmt.Errorf("take rooms: %w", err)
	}
	if int(tag.RowsAffected()) != stay.Nights() {
		return false, nil // deferred Rollback undoes the nights taken
	}
	if err := sp.Commit(ctx); err != nil {
		return false, fmt.Errorf("release savepoint: %w", err)
	}
	return true, nil
}

// publishAll writes events to the outbox in tx, each to its topic
// (messaging.PublishTopic), through an event bus on the transaction. Each
// event is written with a span whose context travels inside the stored
// message, so the forwarder continues the trace.
func publishAll(ctx context.Context, tx pgx.Tx, events []contracts.Contract) error {
	bus, err := messaging.EventBus(telemetry.Publisher(outbox.Publisher(tx), "postgresql"))
	if err != nil {
		return err
	}
	for _, ev := range events {
		if err := bus.Publish(ctx, ev); err != nil {
			return fmt.Errorf("write %s to the outbox: %w", ev.SchemaName(), err)
		}
	}
	return nil
}

// UpdateBooking loads the booking with id for update and applies change; if
// change reports a change, it stores the booking's state, version and tasks
// (updated_at set to now) and writes change's events to the outbox, in one
// transaction.
func (r *Repository) UpdateBooking(ctx context.Context, id string, change app.Change) (domain.Booking, bool, error) {
	var b domain.Booking
	changed := false
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var err error
		b, err = scanBooking(tx.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		var events []contracts.Contract
		changed, events, err = change(&b)
		if err != nil || !changed {
			return err
		}
		if err := tx.QueryRow(ctx, `
			UPDATE bookings SET status = $2, reason = $3, task_voucher = $4, task_email = $5, task_notification = $6,
				version = $7, updated_at = now()
			WHERE id = $1 RETURNING updated_at`,
			b.ID, b.Status, b.Reason, b.Tasks.Voucher, b.Tasks.Email, b.Tasks.Notification, b.Version).Scan(&b.UpdatedAt); err != nil {
			return fmt.Errorf("update booking: %w", err)
		}
		return publishAll(ctx, tx, events)
	})
	if err != nil {
		return b, false, err
	}
	return b, changed, nil
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
