package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
// a test's deadline was found through Committed.
const noPoll = time.Hour

// promptly is how long an event may take from its commit to the broker in
// these tests: far longer than it takes (milliseconds), far shorter than noPoll.
const promptly = 10 * time.Second

// An event leaves right after its writer says it committed, with no poll
// to wait for. Events are written one at a time, each once the previous
// one is out, so that no wake-up left over from the start (the workers'
// first read) can carry them.
func TestForwarder_EventIsPublishedAtItsCommitWithoutWaitingForThePoll(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &arrivals{ch: make(chan string, 1)}
	commits := outbox.NewCommits()
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, Commits: commits, PollInterval: noPoll})
	for i := range 5 {
		id := fmt.Sprintf("prompt-%d", i)
		writeEvent(t, pool, id)
		commits.Committed()
		awaitPublish(t, broker.ch, id)
	}
}

// Rows no Committed announced (another replica's, a crashed writer's, or
// those of a process with no Commits at all) are forwarded by the fallback
// poll. A nil Commits is a writer without a forwarder: Committed does nothing.
func TestForwarder_WithoutCommittedTheFallbackPollForwards(t *testing.T) {
	t.Parallel()
	var none *outbox.Commits
	none.Committed()
	for _, commits := range []*outbox.Commits{nil, outbox.NewCommits()} {
		pool := testPool(t)
		broker := &arrivals{ch: make(chan string, 1)}
		runForwarder(t, outbox.Config{Pool: pool, Out: broker, Commits: commits, PollInterval: 50 * time.Millisecond})
		for i := range 3 {
			writeAndAwait(t, pool, broker, fmt.Sprintf("polled-%d", i))
		}
	}
}

// Many writers commit at random moments while workers are busy with a
// slow broker: each Committed is either taken by an idle worker or kept
// for the next one to finish, so every event is forwarded, once, with no
// poll to help. The commits are spaced so that workers read partial
// batches and go idle between them: a full batch would have its worker
// read on whatever Committed does.
func TestForwarder_NoWakeUpIsLostUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &slowBroker{}
	commits := outbox.NewCommits()
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, Commits: commits, BatchSize: 50, Workers: 4, PollInterval: noPoll})
	const writers, each = 8, 25
	ids := make(chan string, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each { // a transaction each, at random moments
				time.Sleep(time.Duration(rand.Int64N(int64(20 * time.Millisecond))))
				id := fmt.Sprintf("w%02d-%03d", w, i)
				if err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					return outbox.Publisher(tx).Publish("events.Concurrent", message.NewMessage(id, []byte(`{}`)))
				}); err != nil {
					t.Error(err)
					return
				}
				commits.Committed()
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	testkit.Eventually(t, 30*time.Second, "every event forwarded with no poll", func() bool {
		return broker.published() == writers*each && rowsLeft(t, pool) == 0
	})
	for id := range ids {
		if c := broker.count(id); c != 1 {
			t.Fatalf("event %s published %d times, want 1", id, c)
		}
	}
}

// A Committed while every worker is busy is not lost: the wake-up waits
// for the first worker to finish. Each worker holds an event the broker
// does not confirm yet; another event is committed and announced; then the
// broker confirms.
func TestForwarder_CommitWhileEveryWorkerIsBusyIsForwarded(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	broker := &heldBroker{arrivals: arrivals{ch: make(chan string, 1)}, release: make(chan struct{})}
	commits := outbox.NewCommits()
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, Commits: commits, Workers: 2, PollInterval: noPoll})
	for i := range 2 { // one for each worker, in a batch of its own
		id := fmt.Sprintf("held-%d", i)
		writeEvent(t, pool, id)
		commits.Committed()
		awaitPublish(t, broker.ch, id) // its worker now waits for release
	}

	writeEvent(t, pool, "while-busy")
	commits.Committed() // no worker is idle to take it
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
// often busy when commits wake them.
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
