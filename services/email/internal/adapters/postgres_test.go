package adapters_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/domain"
)

func newStore(t *testing.T) *adapters.EmailStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, postgres.Config{
		URL: testkit.Database(t), MaxConns: 10, Migrations: adapters.Migrations(), Logger: slog.New(slog.DiscardHandler),
	})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	return adapters.NewEmailStore(pool)
}

func draft(t *testing.T, id string) domain.Email {
	c, err := domain.NewConfirmation(id, "Ann", "ann@example.com", "Hotel", "2026-05-01", "2026-05-03")
	testkit.Must(t, err)
	return domain.NewEmail(c)
}

func TestEmailStore_ConcurrentClaimsOfOneBookingSendOnce(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	// A new booking (the INSERT makes the later claims wait) and a booking
	// whose row exists from a failed attempt (only the row lock does).
	if _, err := store.Claim(context.Background(), draft(t, "b-retried"), func(ctx context.Context, e *domain.Email) error {
		e.MarkFailed(errors.New("connection refused"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b-new", "b-retried"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			var sends atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([]domain.Email, 6)
			errs := make([]error, 6)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = store.Claim(context.Background(), draft(t, id), func(ctx context.Context, e *domain.Email) error {
						if e.Sent() {
							return nil
						}
						sends.Add(1)
						time.Sleep(50 * time.Millisecond) // holds the lock while the others queue up behind it
						e.MarkSent(time.Now().UTC().Truncate(time.Microsecond))
						return nil
					})
				}()
			}
			close(start)
			wg.Wait()
			if n := sends.Load(); n != 1 {
				t.Fatalf("sent %d times, want once", n)
			}
			for i := range results {
				if errs[i] != nil || !results[i].Sent() || !results[i].SentAt.Equal(results[0].SentAt) {
					t.Errorf("claim %d: %+v, %v", i, results[i], errs[i])
				}
			}
		})
	}
}

func TestEmailStore_FailedAttemptIsRecordedAndTheBookingStaysPending(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	ctx := context.Background()
	if _, err := store.Get(ctx, "b-1"); !errors.Is(err, domain.ErrEmailNotFound) {
		t.Fatalf("Get before any claim: %v", err)
	}
	refused := errors.New("dial tcp: connection refused")
	_, err := store.Claim(ctx, draft(t, "b-1"), func(ctx context.Context, e *domain.Email) error {
		e.MarkFailed(refused)
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Claim returned %v, want the send's error", err)
	}
	got, err := store.Get(ctx, "b-1")
	testkit.Must(t, err)
	if got.Sent() || got.Attempts != 1 || got.LastError != refused.Error() || got.MessageID != "<b-1@staybook>" || got.Recipient != "ann@example.com" {
		t.Fatalf("after a failure: %+v", got)
	}

	sentAt := time.Now().UTC().Truncate(time.Microsecond)
	rec, err := store.Claim(ctx, draft(t, "b-1"), func(ctx context.Context, e *domain.Email) error {
		e.MarkSent(sentAt)
		return nil
	})
	testkit.Must(t, err)
	got, err = store.Get(ctx, "b-1")
	testkit.Must(t, err)
	if !got.Sent() || got.Attempts != 2 || got.LastError != "" || !got.SentAt.Equal(sentAt) || !rec.SentAt.Equal(sentAt) {
		t.Fatalf("after the send: %+v", got)
	}
}

func TestEmailStore_SendThatOutlivesItsContextIsStillRecorded(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := store.Claim(ctx, draft(t, "b-1"), func(ctx context.Context, e *domain.Email) error {
		cancel() // shutdown arrives while the SMTP server accepts the email
		e.MarkSent(time.Now().UTC())
		return nil
	})
	testkit.Must(t, err)
	got, err := store.Get(context.Background(), "b-1")
	testkit.Must(t, err)
	if !got.Sent() {
		t.Fatalf("accepted email not recorded: %+v", got)
	}
}
