package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/outbox/outboxtest"
	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"
)

func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(testkit.Context(t), postgres.Config{URL: testkit.Database(t), MaxConns: 16, Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	outboxtest.CreateTable(t, pool)
	return pool
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// writeEvents writes n events to the outbox, as a booking transaction does,
// and returns their UUIDs.
func writeEvents(t testing.TB, pool *pgxpool.Pool, topic string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	testkit.Must(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		for i := range n {
			msg := message.NewMessage(fmt.Sprintf("%s-%s-%05d", t.Name(), topic, i), []byte(`{"n":1}`))
			msg.Metadata.Set("traceparent", traceparent)
			if err := outbox.Publisher(tx).Publish(topic, msg); err != nil {
				return err
			}
			ids = append(ids, msg.UUID)
		}
		return nil
	}))
	return ids
}

func rowsLeft(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	_, n, err := outbox.Lag(context.Background(), pool)
	testkit.Must(t, err)
	return n
}

func runForwarder(t testing.TB, cfg outbox.Config) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	fwd, err := outbox.NewForwarder(testkit.Context(t), cfg)
	testkit.Must(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fwd.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("forwarder: %v", err)
		}
	})
	<-fwd.Running()
}

// brokerStub stands for the AMQP publisher: it records confirmed events, and
// from the failAfter-th publish on refuses everything for outage (each
// refusal after hang, as a publish that times out waiting for its confirm).
type brokerStub struct {
	failAfter int
	outage    time.Duration
	hang      time.Duration
	onRecover func()

	mu        sync.Mutex
	calls     int
	failedAt  time.Time
	recovered bool
	confirmed map[string]int
	topics    map[string]string
	traces    map[string]string
}

var errBrokerDown = errors.New("broker refuses publishes (stub)")

func (b *brokerStub) Publish(topic string, msgs ...*message.Message) error {
	b.mu.Lock()
	b.calls++
	if b.failAfter > 0 && b.calls > b.failAfter {
		if b.failedAt.IsZero() {
			b.failedAt = time.Now()
		}
		if time.Since(b.failedAt) < b.outage {
			b.mu.Unlock()
			time.Sleep(b.hang) // a publish waiting for its confirm until its deadline
			return errBrokerDown
		}
		if !b.recovered && b.onRecover != nil {
			b.onRecover()
		}
		b.recovered = true
	}
	defer b.mu.Unlock()
	if b.confirmed == nil {
		b.confirmed, b.topics, b.traces = map[string]int{}, map[string]string{}, map[string]string{}
	}
	for _, m := range msgs {
		b.confirmed[m.UUID]++
		b.topics[m.UUID] = topic
		b.traces[m.UUID] = m.Metadata.Get("traceparent")
	}
	return nil
}

func (b *brokerStub) Close() error { return nil }

func (b *brokerStub) published() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.confirmed)
}

func (b *brokerStub) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.confirmed[id]
}

// The broker refuses every publish for longer than every deadline on the
// forwarder's path (the publish timeout, the retry interval; watermill-sql's
// ack deadline in the previous forwarder) after the first events of a batch
// went out: no row is deleted before its event is confirmed, every event is
// published once the broker is back, none more than twice.
func TestForwarder_PublishFailureLongerThanEveryDeadlineMidBatchLosesNothing(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	const n, published = 20, 2
	ids := writeEvents(t, pool, "events.BookingConfirmed", n)
	leftAtRecovery := make(chan int, 1)
	broker := &brokerStub{failAfter: published, outage: 3 * time.Second, hang: 300 * time.Millisecond}
	broker.onRecover = func() { leftAtRecovery <- rowsLeft(t, pool) }
	runForwarder(t, outbox.Config{
		Pool: pool, Out: broker, BatchSize: 100, Workers: 1,
		PollInterval: 20 * time.Millisecond, RetryInterval: 200 * time.Millisecond,
	})

	select {
	case left := <-leftAtRecovery:
		if left != n-published {
			t.Fatalf("%d rows in the outbox when the broker came back after 3 s, want %d (only the confirmed ones deleted)", left, n-published)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no publish after the outage ended: %d rows left in the outbox, %d of %d events published",
			rowsLeft(t, pool), broker.published(), n)
	}
	testkit.Eventually(t, 30*time.Second, "outbox empty", func() bool { return rowsLeft(t, pool) == 0 })
	for _, id := range ids {
		if c := broker.count(id); c < 1 || c > 2 {
			t.Errorf("event %s published %d times, want 1 or 2", id, c)
		}
	}
	broker.mu.Lock()
	defer broker.mu.Unlock()
	for _, id := range ids {
		if broker.topics[id] != "events.BookingConfirmed" || broker.traces[id] == "" {
			t.Fatalf("event %s: topic %q, traceparent %q", id, broker.topics[id], broker.traces[id])
		}
	}
}

// Every worker of every replica takes other rows (SKIP LOCKED): with two
// forwarders of four workers on one table, each event is published once.
func TestForwarder_ReplicasNeverPublishTheSameEventTwice(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	ids := writeEvents(t, pool, "events.BookingConfirmed", 2000)
	broker := &brokerStub{}
	for range 2 {
		runForwarder(t, outbox.Config{Pool: pool, Out: broker, BatchSize: 50, Workers: 4, PollInterval: 10 * time.Millisecond})
	}
	testkit.Eventually(t, 60*time.Second, "outbox empty", func() bool { return rowsLeft(t, pool) == 0 })
	for _, id := range ids {
		if c := broker.count(id); c != 1 {
			t.Fatalf("event %s published %d times, want 1", id, c)
		}
	}
}

// topicRefused refuses one topic for ever and confirms the others.
type topicRefused struct {
	brokerStub
	refused  string
	attempts chan struct{}
}

func (b *topicRefused) Publish(topic string, msgs ...*message.Message) error {
	if topic == b.refused {
		select {
		case b.attempts <- struct{}{}:
		default:
		}
		return errBrokerDown
	}
	return b.brokerStub.Publish(topic, msgs...)
}

// An event that is never confirmed (say, returned as unroutable) and a row
// that is not an envelope stay in the outbox, and do not hold up the others.
func TestForwarder_EventsThatCannotBePublishedStayAndDoNotBlockTheRest(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	stuck := writeEvents(t, pool, "events.Nowhere", 1)
	_, err := pool.Exec(context.Background(), `INSERT INTO `+outbox.Table+` (uuid, payload) VALUES ('garbage', '{"not":"an envelope"}')`)
	testkit.Must(t, err)
	ids := writeEvents(t, pool, "events.BookingConfirmed", 10)
	broker := &topicRefused{refused: "events.Nowhere", attempts: make(chan struct{})}
	runForwarder(t, outbox.Config{Pool: pool, Out: broker, BatchSize: 5, Workers: 2, PollInterval: 10 * time.Millisecond, RetryInterval: 10 * time.Millisecond})

	testkit.Eventually(t, 30*time.Second, "the other events published", func() bool {
		for _, id := range ids {
			if broker.count(id) != 1 {
				return false
			}
		}
		return true
	})
	for range 3 { // tried again after the others went out
		select {
		case <-broker.attempts:
		case <-time.After(10 * time.Second):
			t.Fatal("the refused event is not tried again")
		}
	}
	if left := rowsLeft(t, pool); left != 2 {
		t.Fatalf("%d rows left, want 2 (the refused event and the garbage row)", left)
	}
	if broker.count(stuck[0]) != 0 {
		t.Fatal("the refused event counted as published")
	}
}
