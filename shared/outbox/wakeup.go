package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel of the outbox. The
// services' migrations give the outbox table a trigger that notifies it
// after every statement inserting rows; PostgreSQL delivers the
// notification only when the writer's transaction commits (never for a
// rollback), and folds a transaction's notifications into one. The
// forwarder listens on it, so an event leaves soon after its commit and an
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

// readGap spaces the reads that wake-ups start: at most one every readGap
// for the whole forwarder, unless a worker found a full batch (then its
// helper reads at once). An event committed after a quiet spell is read as
// soon as its commit wakes a worker; under load a woken worker waits for
// its turn and reads the commits of the last readGap at once. A read per
// commit cost more CPU than the 50 ms polling it replaces, at 160 commits
// a second (about 40 bookings) and more; 25 ms costs about the same as the
// polling did there, with a lower latency (BenchmarkOutboxUnderLoad).
const readGap = 25 * time.Millisecond

// wakeups is how commits wake the workers.
type wakeups struct {
	// wake holds at most one pending wake-up (see wakeOne).
	wake chan struct{}

	mu       sync.Mutex
	nextRead time.Time // the earliest a woken worker may read (see readGap)
}

func newWakeups() wakeups { return wakeups{wake: make(chan struct{}, 1)} }

// The wake-up protocol. f.wake holds at most one pending wake-up, sent
// without blocking, so none is lost when every worker is busy: the token
// waits in the channel, and the next worker to finish a batch that was not
// full takes it and reads again. A worker takes a token before it reads,
// and a notification comes after its commit, so a read that follows the
// token sees the rows of every commit that sent one before it; a commit
// after that sends another token. One token wakes one worker; a worker
// that finds a full batch wakes the next (see work).

// wakeOne wakes an idle worker, or leaves a wake-up for the next one.
func (f *wakeups) wakeOne() {
	select {
	case f.wake <- struct{}{}:
	default: // one is pending already: it covers this commit too
	}
}

// wakeHelper wakes an idle worker to read at once, whatever readGap says:
// a full batch means rows are waiting.
func (f *wakeups) wakeHelper() {
	f.mu.Lock()
	f.nextRead = time.Time{}
	f.mu.Unlock()
	f.wakeOne()
}

// sleep waits until a worker is woken and its turn to read comes, until
// ctx ends, or until limit passes (0: no limit).
func (f *wakeups) sleep(ctx context.Context, limit time.Duration) {
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
	case <-f.wake:
		if wait := f.turn(); wait > 0 {
			pause(ctx, wait)
		}
	case <-timeout:
	}
}

// turn reserves the next read slot, readGap after the previous one, and
// returns how long until it comes (0 when the forwarder has not read for
// readGap).
func (f *wakeups) turn() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	at := f.nextRead
	if at.Before(now) {
		at = now
	}
	f.nextRead = at.Add(readGap)
	return at.Sub(now)
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
