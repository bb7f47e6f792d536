package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

// noPoll is a fallback poll no test waits for: an event published within
// a test's deadline was found through a notification.
const noPoll = time.Hour

// promptly is how long an event may take from its commit to the broker in
// these tests: far longer than it takes (milliseconds), far shorter than noPoll.
const promptly = 10 * time.Second

// An event leaves right after its commit: the commit's notification wakes
// a worker, with no poll to wait for. Events are written one at a time,
// each once the previous one is out, so that no wake-up left over from the
// start (the workers' first read, the listener's) can carry them.
func TestForwarder_EventIsPublishedAtItsCommitWithoutWaitingForThePoll(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &arrivals{ch: make(chan string, 1)}
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, PollInterval: noPoll})
	listenerPID(t, pool)
	for i := range 5 {
		writeAndAwait(t, pool, broker, fmt.Sprintf("prompt-%d", i))
	}
}

// The listening connection is killed (a failover, an operator): the
// forwarder listens again, events committed meanwhile are forwarded, and so
// are those committed after.
func TestForwarder_ListeningConnectionKilledForwardingGoesOn(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &arrivals{ch: make(chan string, 1)}
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, PollInterval: noPoll})
	for round := range 2 {
		killed := listenerPID(t, pool)
		var ok bool
		testkit.Must(t, pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, killed).Scan(&ok))
		if !ok {
			t.Fatalf("pg_terminate_backend(%d) failed", killed)
		}
		// Committed before the forwarder listens again, most likely: no
		// notification reaches it.
		writeAndAwait(t, pool, broker, fmt.Sprintf("meanwhile-%d", round))
		testkit.Eventually(t, promptly, "listening on a new connection", func() bool {
			return slices.ContainsFunc(listeners(t, pool), func(pid int) bool { return pid != killed })
		})
		for i := range 3 {
			writeAndAwait(t, pool, broker, fmt.Sprintf("after-%d-%d", round, i))
		}
	}
}

// Without the trigger (a database whose migrations are not run, say), the
// fallback poll still forwards.
func TestForwarder_WithoutNotificationsTheFallbackPollForwards(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	_, err := pool.Exec(context.Background(), `DROP TRIGGER watermill_outbox_notify ON `+outbox.Table)
	testkit.Must(t, err)
	broker := &arrivals{ch: make(chan string, 1)}
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, PollInterval: 50 * time.Millisecond})
	for i := range 3 {
		writeAndAwait(t, pool, broker, fmt.Sprintf("polled-%d", i))
	}
}

// Many writers commit while every worker is busy with a slow broker: each
// commit's wake-up is either taken by an idle worker or kept for the next
// one to finish, so every event is forwarded, once, with no poll to help.
func TestForwarder_NoWakeUpIsLostUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &slowBroker{}
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, BatchSize: 3, Workers: 4, PollInterval: noPoll})
	listenerPID(t, pool)
	const writers, each = 16, 25
	ids := make(chan string, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each { // a transaction each, at random moments
				time.Sleep(time.Duration(rand.Int64N(int64(5 * time.Millisecond))))
				id := fmt.Sprintf("w%02d-%03d", w, i)
				if err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					return outbox.Publisher(tx).Publish("events.Concurrent", message.NewMessage(id, []byte(`{}`)))
				}); err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	testkit.Eventually(t, 60*time.Second, "every event forwarded with no poll", func() bool {
		return broker.published() == writers*each && rowsLeft(t, pool) == 0
	})
	for id := range ids {
		if c := broker.count(id); c != 1 {
			t.Fatalf("event %s published %d times, want 1", id, c)
		}
	}
}

// A commit whose notification comes while every worker is busy is not
// missed: the wake-up waits for the first worker to finish. Each worker
// holds an event the broker does not confirm yet; another event is
// committed, its notification seen (by the test's own listener, which
// hears it when the forwarder does); then the broker confirms.
func TestForwarder_CommitWhileEveryWorkerIsBusyIsForwarded(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &heldBroker{arrivals: arrivals{ch: make(chan string, 1)}, release: make(chan struct{})}
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, Workers: 2, PollInterval: noPoll})
	listenerPID(t, pool)
	for i := range 2 { // one for each worker, in a batch of its own
		id := fmt.Sprintf("held-%d", i)
		writeEvent(t, pool, id)
		awaitPublish(t, broker.ch, id)
	}

	ctx := testkit.Context(t)
	conn, err := pool.Acquire(ctx)
	testkit.Must(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "LISTEN "+outbox.Channel)
	testkit.Must(t, err)
	defer conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *") //nolint:errcheck // released after
	writeEvent(t, pool, "while-busy")
	heard, cancel := context.WithTimeout(ctx, promptly)
	defer cancel()
	_, err = conn.Conn().WaitForNotification(heard)
	testkit.Must(t, err)

	close(broker.release)
	awaitPublish(t, broker.ch, "while-busy")
}

// heldBroker hands each event's UUID to ch and confirms those named
// held-* only once release is closed.
type heldBroker struct {
	arrivals
	release chan struct{}
}

func (b *heldBroker) Publish(topic string, msgs ...*message.Message) error {
	if err := b.arrivals.Publish(topic, msgs...); err != nil {
		return err
	}
	for _, m := range msgs {
		if strings.HasPrefix(m.UUID, "held-") {
			<-b.release
		}
	}
	return nil
}

// slowBroker confirms each event after up to 5 ms, so that the workers are
// often busy when commits notify them.
type slowBroker struct{ brokerStub }

func (b *slowBroker) Publish(topic string, msgs ...*message.Message) error {
	time.Sleep(time.Duration(rand.Int64N(int64(5 * time.Millisecond))))
	return b.brokerStub.Publish(topic, msgs...)
}

// writeAndAwait writes one event and fails t unless the broker receives
// it within promptly.
func writeAndAwait(t *testing.T, pool *pgxpool.Pool, broker *arrivals, id string) {
	t.Helper()
	writeEvent(t, pool, id)
	awaitPublish(t, broker.ch, id)
}

// writeEvent commits one event to the outbox.
func writeEvent(t *testing.T, pool *pgxpool.Pool, id string) {
	t.Helper()
	testkit.Must(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return outbox.Publisher(tx).Publish("events.Prompt", message.NewMessage(id, []byte(`{}`)))
	}))
}

// awaitPublish fails t unless the next event published is id, within promptly.
func awaitPublish(t *testing.T, published <-chan string, id string) {
	t.Helper()
	select {
	case got := <-published:
		if got != id {
			t.Fatalf("published %s, want %s", got, id)
		}
	case <-time.After(promptly):
		t.Fatalf("event %s not published within %s of its commit", id, promptly)
	}
}

// listenerPID waits until the forwarder listens for commits and returns
// the PostgreSQL backend that listens.
func listenerPID(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var pids []int
	testkit.Eventually(t, promptly, "the forwarder listens", func() bool {
		pids = listeners(t, pool)
		return len(pids) > 0
	})
	if len(pids) > 1 {
		t.Fatalf("%d backends listening, want 1: %v", len(pids), pids)
	}
	return pids[0]
}

// listeners are the backends of pool's database whose last statement was
// the forwarder's LISTEN (one killed may show until it has exited).
func listeners(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN '||$1`, outbox.Channel)
	testkit.Must(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	testkit.Must(t, err)
	return pids
}
