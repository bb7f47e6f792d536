// Package adapters connects the voucher use case to the outside world: the
// PostgreSQL store of voucher PDFs and the renders' metrics (the renderer
// itself is adapters/pdf).
package adapters

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/voucher/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the goose migrations of the voucher database.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is there at build time
	}
	return sub
}

// PostgresStore keeps voucher PDFs in the table vouchers, keyed by booking
// ID, so that any replica serves any voucher.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// NewPostgresStore builds a store on a migrated pool.
func NewPostgresStore(pool *pgxpool.Pool) *PostgresStore {
	if pool == nil {
		panic("adapters: nil pool")
	}
	return &PostgresStore{pool: pool}
}

// Save stores rec unless a voucher for the booking exists already. It
// returns the stored voucher's metadata (rec's or the earlier one's) and
// whether rec was the one stored.
func (s *PostgresStore) Save(ctx context.Context, rec domain.Record) (domain.Record, bool, error) {
	sum := sha256.Sum256(rec.PDF)
	stored := domain.Record{BookingID: rec.BookingID, SizeBytes: len(rec.PDF), SHA256: sum[:]}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO vouchers (booking_id, pdf, size_bytes, sha256, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (booking_id) DO NOTHING
		RETURNING created_at`,
		rec.BookingID, rec.PDF, len(rec.PDF), sum[:], rec.CreatedAt,
	).Scan(&stored.CreatedAt)
	switch {
	case err == nil:
		return stored, true, nil
	case errors.Is(err, pgx.ErrNoRows): // another delivery or replica stored it first
		existing, err := s.Find(ctx, rec.BookingID)
		if err != nil {
			return domain.Record{}, false, err
		}
		return existing, false, nil
	default:
		return domain.Record{}, false, fmt.Errorf("store voucher %s: %w", rec.BookingID, err)
	}
}

// Find returns the metadata of a booking's voucher, without the PDF, or
// domain.ErrNotFound.
func (s *PostgresStore) Find(ctx context.Context, bookingID string) (domain.Record, error) {
	rec := domain.Record{BookingID: bookingID}
	err := s.pool.QueryRow(ctx,
		`SELECT size_bytes, sha256, created_at FROM vouchers WHERE booking_id = $1`, bookingID,
	).Scan(&rec.SizeBytes, &rec.SHA256, &rec.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Record{}, fmt.Errorf("voucher %s: %w", bookingID, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Record{}, fmt.Errorf("find voucher %s: %w", bookingID, err)
	}
	return rec, nil
}

// Get returns a booking's voucher with its PDF, or domain.ErrNotFound.
func (s *PostgresStore) Get(ctx context.Context, bookingID string) (domain.Record, error) {
	rec := domain.Record{BookingID: bookingID}
	err := s.pool.QueryRow(ctx,
		`SELECT pdf, size_bytes, sha256, created_at FROM vouchers WHERE booking_id = $1`, bookingID,
	).Scan(&rec.PDF, &rec.SizeBytes, &rec.SHA256, &rec.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Record{}, fmt.Errorf("voucher %s: %w", bookingID, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Record{}, fmt.Errorf("get voucher %s: %w", bookingID, err)
	}
	return rec, nil
}

// Count returns how many vouchers are stored (tests and operators).
func (s *PostgresStore) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vouchers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count vouchers: %w", err)
	}
	return n, nil
}
