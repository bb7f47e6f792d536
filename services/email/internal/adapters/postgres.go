// Package adapters connects the email use case to the world: the sent-email
// log in PostgreSQL, the voucher service over HTTP, the SMTP server through
// go-mail, the broker through the shared publisher, and Prometheus.
package adapters

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/email/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the goose migrations of the email database.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is always there
	}
	return sub
}

// recordTimeout bounds the write that records an attempt's outcome.
const recordTimeout = 10 * time.Second

// EmailStore is the sent-email log in PostgreSQL.
type EmailStore struct {
	pool *pgxpool.Pool
}

// NewEmailStore uses pool, which must be migrated with Migrations.
func NewEmailStore(pool *pgxpool.Pool) *EmailStore {
	if pool == nil {
		panic("adapters: nil pool")
	}
	return &EmailStore{pool: pool}
}

const emailColumns = `booking_id, message_id, recipient, recipient_name, subject, status, attempts, last_error, sent_at, created_at, updated_at`

func scanEmail(row pgx.Row) (domain.Email, error) {
	var (
		e      domain.Email
		status string
		sentAt *time.Time
	)
	err := row.Scan(&e.BookingID, &e.MessageID, &e.Recipient, &e.RecipientName, &e.Subject, &status,
		&e.Attempts, &e.LastError, &sentAt, &e.CreatedAt, &e.UpdatedAt)
	if err != nil {
		return domain.Email{}, err
	}
	e.Status = domain.Status(status)
	if sentAt != nil {
		e.SentAt = sentAt.UTC()
	}
	e.CreatedAt = e.CreatedAt.UTC()
	e.UpdatedAt = e.UpdatedAt.UTC()
	return e, nil
}

// Get returns the booking's email record.
func (s *EmailStore) Get(ctx context.Context, bookingID string) (domain.Email, error) {
	e, err := scanEmail(s.pool.QueryRow(ctx, `SELECT `+emailColumns+` FROM emails WHERE booking_id = $1`, bookingID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Email{}, fmt.Errorf("email of booking %s: %w", bookingID, domain.ErrEmailNotFound)
	}
	if err != nil {
		return domain.Email{}, fmt.Errorf("get email of booking %s: %w", bookingID, err)
	}
	return e, nil
}

// Claim implements app.EmailStore. The INSERT ... ON CONFLICT DO NOTHING
// makes the row exist (a second transaction inserting the same booking waits
// for the first to commit or roll back); SELECT ... FOR UPDATE then holds
// the row until this transaction ends, so concurrent deliveries of the same
// booking, on any replica, run fn one after the other, and the later one sees
// what the earlier one stored.
func (s *EmailStore) Claim(ctx context.Context, draft domain.Email, fn func(ctx context.Context, e *domain.Email) error) (domain.Email, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return domain.Email{}, fmt.Errorf("claim email of booking %s: begin: %w", draft.BookingID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit

	if _, err := tx.Exec(ctx, `
		INSERT INTO emails (booking_id, message_id, recipient, recipient_name, subject, status)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (booking_id) DO NOTHING`,
		draft.BookingID, draft.MessageID, draft.Recipient, draft.RecipientName, draft.Subject, string(domain.StatusPending),
	); err != nil {
		return domain.Email{}, fmt.Errorf("claim email of booking %s: insert: %w", draft.BookingID, err)
	}
	e, err := scanEmail(tx.QueryRow(ctx, `SELECT `+emailColumns+` FROM emails WHERE booking_id = $1 FOR UPDATE`, draft.BookingID))
	if err != nil {
		return domain.Email{}, fmt.Errorf("claim email of booking %s: lock: %w", draft.BookingID, err)
	}
	before := e

	fnErr := fn(ctx, &e)

	// Once fn has run, the SMTP server may have accepted the email: record
	// that even if ctx was cancelled meanwhile (shutdown, attempt timeout),
	// or the email would be sent again on redelivery.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if e != before {
		var sentAt *time.Time
		if e.Status == domain.StatusSent {
			sentAt = &e.SentAt
		}
		err := tx.QueryRow(ctx, `
			UPDATE emails SET status = $2, attempts = $3, last_error = $4, sent_at = $5, updated_at = now()
			WHERE booking_id = $1 RETURNING updated_at`,
			e.BookingID, string(e.Status), e.Attempts, e.LastError, sentAt,
		).Scan(&e.UpdatedAt)
		if err != nil {
			return domain.Email{}, errors.Join(fnErr, fmt.Errorf("claim email of booking %s: update: %w", draft.BookingID, err))
		}
		e.UpdatedAt = e.UpdatedAt.UTC()
	}
	if err := tx.Commit(ctx); err != nil {
		return domain.Email{}, errors.Join(fnErr, fmt.Errorf("claim email of booking %s: commit: %w", draft.BookingID, err))
	}
	return e, fnErr
}
