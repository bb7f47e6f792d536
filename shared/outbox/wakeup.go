package outbox

import (
	"context"
	"sync"
	"time"
)

// Commits is how the writers of a process wake its Forwarder: after a
// transaction that wrote events commits, its writer calls Committed, and an
// idle worker reads the outbox at once. A service makes one Commits, gives
// it to its Forwarder (Config.Commits) and to its storage.
//
// Why not PostgreSQL's LISTEN/NOTIFY, which needs no change in the writers
// (issue 13's first version, a trigger notifying at commit): PostgreSQL
// serializes the commits of transactions that NOTIFY (a lock held through
// each commit). Writers that did nothing else committed half as much
// (BenchmarkOutboxUnderLoad, as fast as they can: 3,904 -> 1,861 a second;
// in-process, 6,992 against NOTIFY's 3,704 on a quieter machine), and the
// booking service's backlog drain fell (BenchmarkSettle: from about 900 to
// 400-700 bookings a second; in-process, 1,108 against NOTIFY's 1,023,
// the same as polling). docs/results/benchmarks.md has the figures.
//
// The price of waking in-process: a commit wakes only its own process's
// forwarder. Rows another replica committed are forwarded by that replica;
// rows of a writer that crashed between its commit and Committed, or of a
// replica that stopped before forwarding them, are picked up by the
// fallback poll (Config.PollInterval) of any replica.
type Commits struct {
	// wake holds at most one pending wake-up (see the wake-up protocol).
	wake chan struct{}
}

// NewCommits returns a Commits for one Forwarder.
func NewCommits() *Commits { return &Commits{wake: make(chan struct{}, 1)} }

// Committed wakes an idle worker of the forwarder, or leaves a wake-up for
// the next one to finish its batch. Call it after a commit that wrote
// events (a spurious call costs one empty read). It never blocks, and a
// nil Commits (a storage without a forwarder) does nothing.
func (c *Commits) Committed() {
	if c == nil {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default: // one is pending already: it covers this commit too
	}
}

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
	// commits carries the writers', the fallback poll's and the helpers'
	// wake-ups alike.
	commits *Commits

	mu       sync.Mutex
	nextRead time.Time // the earliest a woken worker may read (see readGap)
}

// newWakeups wakes the workers through commits; nil: only the fallback
// poll and the helpers wake them.
func newWakeups(commits *Commits) wakeups {
	if commits == nil {
		commits = NewCommits()
	}
	return wakeups{commits: commits}
}

// The wake-up protocol. Commits.wake holds at most one pending wake-up, sent
// without blocking, so none is lost when every worker is busy: the token
// waits in the channel, and the next worker to finish a batch that was not
// full takes it and reads again. A worker takes a token before it reads,
// and a writer calls Committed after its commit, so a read that follows the
// token sees the rows of every commit that sent one before it; a commit
// after that sends another token. One token wakes one worker; a worker
// that finds a full batch wakes the next (see work).

// wakeOne wakes an idle worker, or leaves a wake-up for the next one.
func (f *wakeups) wakeOne() { f.commits.Committed() }

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
	case <-f.commits.wake:
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
// rows no Committed announced to this forwarder (another replica's, a
// crashed writer's).
func (f *Forwarder) pollEvery(ctx context.Context, interval time.Duration) {
	every(ctx, interval, f.wakeOne)
}

// every calls do every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, do func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			do()
		}
	}
}
