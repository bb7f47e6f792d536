package adapters_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/domain"
)

func newStore(t *testing.T) *adapters.EmailStore {
	t.Helper()
	store, _ := newStoreWith(t, adapters.EmailStoreConfig{})
	return store
}

// newStoreWith builds a store on a fresh database with cfg (its Pool set
// here), and returns the pool too.
func newStoreWith(t *testing.T, cfg adapters.EmailStoreConfig) (*adapters.EmailStore, *pgxpool.Pool) {
	t.Helper()
	return openStore(t, testkit.Database(t), cfg)
}

// openStore migrates the database at dbURL and builds a store on it.
func openStore(t *testing.T, dbURL string, cfg adapters.EmailStoreConfig) (*adapters.EmailStore, *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.Open(ctx, postgres.Config{
		URL: dbURL, MaxConns: 10, Migrations: adapters.Migrations(), Logger: slog.New(slog.DiscardHandler),
	})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	cfg.Pool = pool
	store, err := adapters.NewEmailStore(cfg)
	testkit.Must(t, err)
	return store, pool
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

func TestEmailStore_DatabaseLostAfterTheSMTPServerAcceptedSendsOnceAndRecordsSent(t *testing.T) {
	t.Parallel()
	store, pool := newStoreWith(t, adapters.EmailStoreConfig{})
	// The database goes away after the SMTP server accepted the email: the
	// pool's connections are killed, and recording fails a few times more
	// (the server still restarting).
	var recordFailures atomic.Int32
	adapters.SetRecordFault(store, func(attempt int) error {
		if attempt <= 3 {
			recordFailures.Add(1)
			return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
		}
		return nil
	})
	ctx := context.Background()
	var sends atomic.Int32
	send := func(ctx context.Context, e *domain.Email) error {
		if e.Sent() {
			return nil
		}
		sends.Add(1) // the SMTP server accepts the email here
		killConnections(t, pool)
		e.MarkSent(time.Now().UTC().Truncate(time.Microsecond))
		return nil
	}

	rec, err := store.Claim(ctx, draft(t, "b-1"), send)
	testkit.Must(t, err)
	if !rec.Sent() || recordFailures.Load() != 3 {
		t.Fatalf("claim returned %+v after %d failed records", rec, recordFailures.Load())
	}
	// The redelivery of the message finds it sent.
	again, err := store.Claim(ctx, draft(t, "b-1"), send)
	testkit.Must(t, err)
	got, err := store.Get(ctx, "b-1")
	testkit.Must(t, err)
	if n := sends.Load(); n != 1 {
		t.Fatalf("sent %d times, want once", n)
	}
	if !got.Sent() || got.Attempts != 1 || !got.SentAt.Equal(rec.SentAt) || !again.SentAt.Equal(rec.SentAt) {
		t.Fatalf("record after the outage: %+v", got)
	}
}

// killConnections terminates every backend of the pool's database, as a
// PostgreSQL restart does.
func killConnections(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	conn, err := pgx.ConnectConfig(context.Background(), pool.Config().ConnConfig.Copy())
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	var killed int
	testkit.Must(t, conn.QueryRow(context.Background(), `
		SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()) k`).Scan(&killed))
	if killed == 0 {
		t.Fatal("no connection of the pool to kill")
	}
}

// slowSend starts a claim of b-1 whose send (a slow SMTP server) lasts
// until the returned release is called, and returns once it is sending.
func slowSend(t *testing.T, store *adapters.EmailStore) (release func()) {
	t.Helper()
	sending, released := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := store.Claim(context.Background(), draft(t, "b-1"), func(ctx context.Context, e *domain.Email) error {
			close(sending)
			<-released
			e.MarkSent(time.Now().UTC())
			return nil
		})
		done <- err
	}()
	<-sending
	return func() { close(released); testkit.Must(t, <-done) }
}

// requireBeingSent: another worker that tries to claim b-1 for d neither
// sends it nor takes the claim over.
func requireBeingSent(t *testing.T, store *adapters.EmailStore, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	called := false
	_, err := store.Claim(ctx, draft(t, "b-1"), func(context.Context, *domain.Email) error {
		called = true
		return nil
	})
	if called || !errors.Is(err, adapters.ErrBeingSent) {
		t.Fatalf("second claimant for %s: called %v, err %v; want ErrBeingSent without a send", d, called, err)
	}
}

func TestEmailStore_LiveClaimOfAnotherWorkerIsNeitherSentConcurrentlyNorTakenOver(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	release := slowSend(t, store)
	got, err := store.Get(context.Background(), "b-1")
	testkit.Must(t, err)
	if got.Status != domain.StatusSending {
		t.Fatalf("while sending: %+v", got)
	}
	requireBeingSent(t, store, 3*time.Second) // generous: the claimant polls until then
	release()
}

func TestEmailStore_ExpiredClaimOfACrashedWorkerIsTakenOver(t *testing.T) {
	t.Parallel()
	store, pool := newStoreWith(t, adapters.EmailStoreConfig{Lease: 2 * time.Second, RecordTimeout: time.Second})
	ctx := context.Background()
	// A worker claimed the email and crashed: the row stays sending.
	_, err := pool.Exec(ctx, `
		INSERT INTO emails (booking_id, message_id, recipient, status, claimed_by, claimed_at)
		VALUES ('b-1', '<b-1@staybook>', 'ann@example.com', 'sending', 'crashed/1', now() - interval '3 seconds')`)
	testkit.Must(t, err)

	sends := 0
	rec, err := store.Claim(ctx, draft(t, "b-1"), func(ctx context.Context, e *domain.Email) error {
		sends++
		e.MarkSent(time.Now().UTC())
		return nil
	})
	testkit.Must(t, err)
	if sends != 1 || !rec.Sent() || rec.MessageID != "<b-1@staybook>" {
		t.Fatalf("after the lease: %d sends, %+v", sends, rec)
	}
}

// newStoreBehindProxy builds a store whose database connections go through
// a TCP proxy the test can cut.
func newStoreBehindProxy(t *testing.T, cfg adapters.EmailStoreConfig) (*adapters.EmailStore, *testkit.Proxy) {
	t.Helper()
	proxied, proxy := testkit.ProxyURL(t, testkit.Database(t))
	store, _ := openStore(t, proxied, cfg)
	return store, proxy
}

// The database goes away right after the SMTP server accepted the email, for
// longer than every deadline on the path (the lease, 2 s here; the record
// timeout, 1 s; one record attempt, 5 s; the attempt's own timeout, 3 s):
// recording "sent" keeps trying while the claim is held, and neither this
// delivery's retries nor a later delivery send the email again.
func TestEmailStore_DatabaseAwayLongerThanEveryDeadlineAfterTheSendSendsOnce(t *testing.T) {
	t.Parallel()
	store, proxy := newStoreBehindProxy(t, adapters.EmailStoreConfig{Lease: 2 * time.Second, RecordTimeout: time.Second})
	const outage = 8 * time.Second
	var sends atomic.Int32
	restored := make(chan struct{})
	send := func(ctx context.Context, e *domain.Email) error {
		if e.Sent() {
			return nil
		}
		if sends.Add(1) == 1 { // the SMTP server accepts the email, then the database is cut
			proxy.Cut()
			time.AfterFunc(outage, func() { proxy.Restore(); close(restored) })
		}
		e.MarkSent(time.Now().UTC().Truncate(time.Microsecond))
		return nil
	}
	// The handler's attempts, as the router's Retry makes them: each with
	// its timeout, another after a failure.
	var (
		rec      domain.Email
		err      error
		failures int
	)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		rec, err = store.Claim(ctx, draft(t, "b-1"), send)
		cancel()
		if err == nil {
			break
		}
		failures++
		if attempt == 100 {
			t.Fatalf("no attempt succeeded: %v", err)
		}
		<-time.After(200 * time.Millisecond) // the retry's backoff
	}
	<-restored
	if !rec.Sent() {
		t.Fatalf("claim returned %+v", rec)
	}
	// A redelivery after the outage finds the email sent.
	again, err := store.Claim(context.Background(), draft(t, "b-1"), send)
	testkit.Must(t, err)
	if n := sends.Load(); n != 1 {
		t.Fatalf("sent %d times (%d failed attempts), want once", n, failures)
	}
	if !again.Sent() || !again.SentAt.Equal(rec.SentAt) {
		t.Fatalf("record after the outage: %+v", again)
	}
}

// A claimant that sends for longer than the lease (a slow SMTP server)
// keeps its claim: the lease is renewed, and another worker waits.
func TestEmailStore_LiveClaimOutlastingItsLeaseIsRenewedNotTakenOver(t *testing.T) {
	t.Parallel()
	store := newStoreWithLease(t, 3*time.Second, time.Second)
	release := slowSend(t, store)
	requireBeingSent(t, store, 6*time.Second) // twice the lease
	release()
}

func newStoreWithLease(t *testing.T, lease, record time.Duration) *adapters.EmailStore {
	store, _ := newStoreWith(t, adapters.EmailStoreConfig{Lease: lease, RecordTimeout: record})
	return store
}
