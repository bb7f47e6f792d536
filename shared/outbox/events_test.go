package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/outbox/outboxtest"
	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"
)

// publishEach publishes n events one Publish call each, as a cqrs.EventBus
// does, to the topics in turn, through events.Publisher().
// It adds them to sent (UUID: topic).
func publishEach(t *testing.T, events *outbox.Events, prefix string, topics []string, n int, sent map[string]string) {
	t.Helper()
	for i := range n {
		msg := message.NewMessage(fmt.Sprintf("%s-%02d", prefix, i), []byte(`{"n":1}`))
		msg.Metadata.Set("traceparent", traceparent)
		topic := topics[i%len(topics)]
		testkit.Must(t, events.Publisher().Publish(topic, msg))
		sent[msg.UUID] = topic
	}
}

// The events of a transaction, published one call each, are written in one
// INSERT (Write, or Queue in a batch with other statements), as rows the
// Forwarder publishes to each event's own topic with its UUID, payload and
// metadata.
func TestEvents_WrittenInOneStatementAsTheForwarderReadsThem(t *testing.T) {
	t.Parallel()
	counted := &testkit.SQLCounter{}
	pool, err := postgres.Open(testkit.Context(t), postgres.Config{URL: testkit.Database(t), MaxConns: 4,
		Logger: slog.New(slog.DiscardHandler), Tracer: counted})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	outboxtest.CreateTable(t, pool)
	topics := []string{"events.BookingConfirmed", "notifications"}
	ctx := context.Background()

	var written, queued outbox.Events
	sent := map[string]string{}
	publishEach(t, &written, "written", topics, 3, sent)
	before := counted.Statements.Load()
	testkit.Must(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return written.Write(tx) }))
	if n := counted.Statements.Load() - before - 2; n != 1 { // less BEGIN and COMMIT
		t.Fatalf("Write of 3 events ran %d statements, want 1", n)
	}
	publishEach(t, &queued, "queued", topics, 3, sent)
	testkit.Must(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		batch.Queue(`SELECT 1`)
		if err := queued.Queue(batch); err != nil {
			return err
		}
		if batch.Len() != 2 {
			t.Errorf("Queue of 3 events queued %d statements, want 1", batch.Len()-1)
		}
		return tx.SendBatch(ctx, batch).Close()
	}))
	if n := rowsLeft(t, pool); n != 6 {
		t.Fatalf("%d rows in the outbox, want 6", n)
	}

	broker := &brokerStub{}
	fwd, err := outbox.NewForwarder(ctx, outbox.Config{Pool: pool, Out: broker, Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	if read, published, err := fwd.ForwardBatch(ctx); err != nil || read != 6 || published != 6 {
		t.Fatalf("forwarded %d of %d rows: %v", published, read, err)
	}
	for id, topic := range sent {
		if broker.count(id) != 1 || broker.topics[id] != topic || broker.traces[id] != traceparent {
			t.Fatalf("event %s: published %d times to %q with traceparent %q; want once to %s",
				id, broker.count(id), broker.topics[id], broker.traces[id], topic)
		}
	}
}

// Without events there is nothing to write: no statement, nothing queued.
func TestEvents_NoneWritesNothing(t *testing.T) {
	var none outbox.Events
	batch := &pgx.Batch{}
	testkit.Must(t, none.Queue(batch))
	if batch.Len() != 0 || none.Len() != 0 {
		t.Fatalf("%d statements queued for no events", batch.Len())
	}
	testkit.Must(t, none.Write(nil)) // a nil transaction: Write must not touch it
}
