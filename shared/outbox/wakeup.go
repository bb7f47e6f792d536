package outbox

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel of the outbox. The
// services' migrations give the outbox table a trigger that notifies it
// after every statement inserting rows; PostgreSQL delivers the
// notification only when the writer's transaction commits (never for a
// rollback), and folds a transaction's notifications into one. The
// forwarder listens on it, so an event leaves right after its commit and an
// idle forwarder costs the database nothing but the fallback poll.
const Channel = "watermill_outbox"

// Reconnecting the listener: the first retry after this, doubling up to
// listenRetryMax. Meanwhile the fallback poll forwards.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// closeTimeout bounds closing the listening connection.
const closeTimeout = 5 * time.Second

// The wake-up protocol. f.wake holds at most one pending wake-up, sent
// without blocking, so none is lost when every worker is busy: the token
// waits in the channel, and the next worker to finish a batch that was not
// full takes it and reads again. A worker takes a token before it reads,
// and a notification comes after its commit, so a read that follows the
// token sees the rows of every commit that sent one before it; a commit
// after that sends another token. One token wakes one worker; a worker
// that finds a full batch wakes the next (see work).

// wakeOne wakes an idle worker, or leaves a wake-up for the next one.
func (f *Forwarder) wakeOne() {
	select {
	case f.wake <- struct{}{}:
	default: // one is pending already: it covers this commit too
	}
}

// sleep waits until a worker is woken, ctx ends or limit passes (0: no limit).
func (f *Forwarder) sleep(ctx context.Context, limit time.Duration) {
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-timeout:
	}
}

// pause waits for d or until ctx ends, whatever wakes the workers meanwhile.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pollEvery is the fallback poll: it wakes a worker every interval, for
// commits whose notification no one heard.
func (f *Forwarder) pollEvery(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f.wakeOne()
		}
	}
}

// listen wakes a worker on every notification of Channel, until ctx ends.
// The listening connection can drop (a database restart or failover, an
// operator's pg_terminate_backend): it connects again with backoff.
func (f *Forwarder) listen(ctx context.Context) {
	retry := listenRetryMin
	for {
		listened, err := f.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			retry = listenRetryMin
		}
		f.cfg.Logger.WarnContext(ctx, "outbox: not listening for commits; the fallback poll forwards until it listens again",
			"err", err, "retry_in", retry)
		pause(ctx, retry)
		retry = min(2*retry, listenRetryMax)
	}
}

// listenOnce takes a connection of the pool for itself, listens on
// Channel and wakes a worker per notification until the connection fails.
// It reports whether it got as far as listening.
func (f *Forwarder) listenOnce(ctx context.Context) (listened bool, err error) {
	conn, err := f.cfg.Pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer closeListener(conn)
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return false, err
	}
	// Commits made while no one listened notified no one.
	f.wakeOne()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return true, err
		}
		f.wakeOne()
	}
}

// closeListener closes the listening connection rather than give it back
// to the pool still listening; the pool then opens a new one when needed.
func closeListener(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	conn.Conn().Close(ctx) //nolint:errcheck // the connection is dropped either way
	conn.Release()
}
