// Package adapters connects the email use case to the world: the sent-email
// log in PostgreSQL, the SMTP server through go-mail, and Prometheus (the
// voucher service's client is adapters/voucherclient).
package adapters

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

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

// Defaults of EmailStoreConfig.
const (
	// DefaultRecordTimeout bounds the retries of the write that records a
	// failed send (releases the claim): long enough to outlast a PostgreSQL
	// restart. A send the SMTP server accepted is recorded with no time limit.
	DefaultRecordTimeout = 30 * time.Second
	// DefaultLease is how long a claim keeps other workers from sending
	// the same email.
	DefaultLease = 2 * time.Minute
	// recordAttemptTimeout bounds one attempt of such a write.
	recordAttemptTimeout = 5 * time.Second
)

// ErrBeingSent: another worker holds a live claim on the booking's email
// (it may be talking to the SMTP server right now). Worth retrying: the
// claim ends with the email sent, or released, or its lease expires.
var ErrBeingSent = errors.New("email is being sent by another worker")

// EmailStoreConfig configures EmailStore.
type EmailStoreConfig struct {
	// Pool must be migrated with Migrations.
	Pool *pgxpool.Pool
	// Lease is how long a claim (status sending) excludes other workers
	// after the claimant was last heard of: a live claimant renews it every
	// Lease/3 until its outcome is recorded, so it is never taken over while
	// the database can be reached; a crashed one's email is sent again after
	// the lease (the one duplicate the service accepts, with the same
	// Message-ID). The claimant's fn runs for at most Lease - RecordTimeout.
	// DefaultLease if 0; must exceed RecordTimeout.
	Lease time.Duration
	// RecordTimeout bounds the retries of releasing a claim whose send
	// failed (DefaultRecordTimeout if 0). Recording a send the SMTP server
	// accepted is retried for as long as it takes.
	RecordTimeout time.Duration
	// Instance names this process in claimed_by (host name and pid if empty).
	Instance string
}

// EmailStore is the sent-email log in PostgreSQL.
type EmailStore struct {
	pool          *pgxpool.Pool
	lease         time.Duration
	recordTimeout time.Duration
	instance      string
	// recordFault, set by tests only, fails attempts to record an outcome
	// (a database lost after the SMTP server accepted the email).
	recordFault func(attempt int) error
}

// NewEmailStore builds the store.
func NewEmailStore(cfg EmailStoreConfig) (*EmailStore, error) {
	if cfg.Pool == nil {
		return nil, errors.New("email store: nil pool")
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.RecordTimeout == 0 {
		cfg.RecordTimeout = DefaultRecordTimeout
	}
	if cfg.RecordTimeout < 0 || cfg.Lease <= cfg.RecordTimeout {
		return nil, fmt.Errorf("email store: lease %s must exceed record timeout %s", cfg.Lease, cfg.RecordTimeout)
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	return &EmailStore{pool: cfg.Pool, lease: cfg.Lease, recordTimeout: cfg.RecordTimeout, instance: cfg.Instance}, nil
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

// Claim implements app.EmailStore, in three short transactions rather than
// one held across the SMTP call: a transaction open during the send lost
// the whole record (the row, the send) when the database connection died
// after the SMTP server had accepted the email, and the retry sent it again.
//
//  1. Claim: one upsert, committed at once, sets the row to sending with a
//     claim token and claimed_at, unless it is sent, or sending under a
//     lease that has not expired (another worker is at it: wait, polling,
//     until it is sent, released or expired, or ctx ends with ErrBeingSent).
//  2. fn runs (the send) with no transaction open, bounded by the lease.
//  3. The outcome is written on a connection taken afresh from the pool,
//     with retries, on a context that the caller's cancellation (shutdown,
//     attempt timeout) does not end: a sent email until it is recorded,
//     however long the database is away (giving up would leave the row
//     sending, and the next attempt, once the lease ran out, would send it
//     again); a failed send for up to RecordTimeout.
//
// From the claim until the outcome is recorded, the claim's lease is renewed
// every Lease/3, so a live claimant is not taken over however long it sends
// or waits for the database.
//
// fn is not called when the email is sent already.
func (s *EmailStore) Claim(ctx context.Context, draft domain.Email, fn func(ctx context.Context, e *domain.Email) error) (domain.Email, error) {
	token := s.newToken()
	e, err := s.claim(ctx, draft, token)
	if err != nil || e.Sent() {
		return e, err
	}
	stopRenewing := s.renew(e.BookingID, token)
	defer stopRenewing()

	sendCtx, cancelSend := context.WithTimeout(ctx, s.lease-s.recordTimeout)
	fnErr := fn(sendCtx, &e)
	cancelSend()

	// Once fn has run, the SMTP server may have accepted the email: record
	// that even if ctx was cancelled meanwhile, or the email would be sent
	// again on redelivery.
	if e.Sent() {
		rec, err := s.markSent(context.WithoutCancel(ctx), e)
		if err != nil {
			return domain.Email{}, errors.Join(fnErr, err)
		}
		return rec, fnErr
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.recordTimeout)
	defer cancel()
	rec, err := s.release(rctx, e, token)
	if err != nil {
		return domain.Email{}, errors.Join(fnErr, err)
	}
	return rec, fnErr
}

func (s *EmailStore) newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return s.instance + "/" + hex.EncodeToString(b[:])
}

// claim makes the booking's row exist and be sending under token, or returns
// it sent. The upsert locks the row, so concurrent claimants of one booking
// (on any replica) are ordered, and exactly one of them gets it.
func (s *EmailStore) claim(ctx context.Context, draft domain.Email, token string) (domain.Email, error) {
	wait := 20 * time.Millisecond
	for {
		e, err := scanEmail(s.pool.QueryRow(ctx, `
			INSERT INTO emails AS e (booking_id, message_id, recipient, recipient_name, subject, status, claimed_by, claimed_at)
			VALUES ($1, $2, $3, $4, $5, 'sending', $6, now())
			ON CONFLICT (booking_id) DO UPDATE SET status = 'sending', claimed_by = $6, claimed_at = now(), updated_at = now()
			WHERE e.status = 'pending' OR (e.status = 'sending' AND e.claimed_at < now() - make_interval(secs => $7))
			RETURNING `+emailColumns,
			draft.BookingID, draft.MessageID, draft.Recipient, draft.RecipientName, draft.Subject, token, s.lease.Seconds(),
		))
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return domain.Email{}, fmt.Errorf("claim email of booking %s: %w", draft.BookingID, err)
		}
		// The row is sent, or another worker's claim is live.
		e, err = s.Get(ctx, draft.BookingID)
		if err != nil {
			return domain.Email{}, fmt.Errorf("claim email of booking %s: %w", draft.BookingID, err)
		}
		if e.Sent() {
			return e, nil
		}
		if e.Status == domain.StatusSending {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return domain.Email{}, fmt.Errorf("claim email of booking %s: %w (%w)", draft.BookingID, ErrBeingSent, context.Cause(ctx))
			}
			wait = min(2*wait, 500*time.Millisecond)
		}
		// pending: released in between; claim again at once.
	}
}

// renew keeps the claim's lease fresh (claimed_at = now()) every Lease/3
// until the returned stop is called. A renewal that fails (the database
// away) is simply tried again at the next tick.
func (s *EmailStore) renew(bookingID, token string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			actx, cancelAttempt := context.WithTimeout(ctx, recordAttemptTimeout)
			_, _ = s.pool.Exec(actx, `UPDATE emails SET claimed_at = now()
				WHERE booking_id = $1 AND status = 'sending' AND claimed_by = $2`, bookingID, token)
			cancelAttempt()
		}
	}()
	return func() { cancel(); <-done }
}

// markSent records the SMTP server's acceptance, retrying until it is
// recorded, ctx ends or the pool is closed. The claim's token is not
// required: whoever holds the row now, the email was sent.
func (s *EmailStore) markSent(ctx context.Context, e domain.Email) (domain.Email, error) {
	var rec domain.Email
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		rec, err = scanEmail(s.pool.QueryRow(ctx, `
			UPDATE emails SET status = 'sent', sent_at = $2, attempts = $3, last_error = '', updated_at = now()
			WHERE booking_id = $1 AND status <> 'sent'
			RETURNING `+emailColumns,
			e.BookingID, e.SentAt, e.Attempts))
		if errors.Is(err, pgx.ErrNoRows) { // another worker, after our lease, recorded its own send
			rec, err = s.Get(ctx, e.BookingID)
		}
		return err
	})
	if err != nil {
		return domain.Email{}, fmt.Errorf("record email of booking %s as sent: %w", e.BookingID, err)
	}
	return rec, nil
}

// release ends a claim whose send did not happen: the row goes back to
// pending with the attempt counted, unless the claim was taken over.
func (s *EmailStore) release(ctx context.Context, e domain.Email, token string) (domain.Email, error) {
	var rec domain.Email
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		rec, err = scanEmail(s.pool.QueryRow(ctx, `
			UPDATE emails SET status = 'pending', attempts = $2, last_error = $3, updated_at = now()
			WHERE booking_id = $1 AND status = 'sending' AND claimed_by = $4
			RETURNING `+emailColumns,
			e.BookingID, e.Attempts, e.LastError, token))
		if errors.Is(err, pgx.ErrNoRows) { // taken over after the lease: theirs now
			rec, err = s.Get(ctx, e.BookingID)
		}
		return err
	})
	if err != nil {
		return domain.Email{}, fmt.Errorf("record failed attempt of email of booking %s: %w", e.BookingID, err)
	}
	return rec, nil
}

// retry runs write until it succeeds, ctx ends or the pool is closed (the
// service is stopping), with backoff. Each call takes a connection from the
// pool afresh: a connection the database dropped is discarded by the pool,
// and the next attempt dials anew.
func (s *EmailStore) retry(ctx context.Context, write func(ctx context.Context) error) error {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var err error
		if s.recordFault != nil {
			err = s.recordFault(attempt)
		}
		if err == nil {
			// A connection that died without a word would hang until ctx
			// ends: bound each attempt, so the next one can dial anew.
			actx, cancel := context.WithTimeout(ctx, recordAttemptTimeout)
			err = write(actx)
			cancel()
			if err == nil {
				return nil
			}
			if errors.Is(err, puddle.ErrClosedPool) {
				return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait = min(2*wait, 2*time.Second)
	}
}
