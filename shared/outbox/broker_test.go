package outbox_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

// Through the real broker: a consumer receives each event as it was written
// to the outbox (UUID, payload and every metadata key, the trace context
// included), and an event to an exchange that does not exist stays in the
// outbox without holding up the others (its publish closes an AMQP channel,
// so others in flight on it fail and are published again later).
func TestForwarder_ConsumersReceiveEventsAsWrittenAndAMissingExchangeHoldsUpNothing(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	pool := testPool(t)
	amqpURL := testkit.Vhost(t)
	ctx := testkit.Context(t)
	conn := messagingtest.Connect(t, amqpURL, "publish", log)
	topo := messaging.Topology{QueueType: messaging.QueueTypeClassic, BookingQueueMax: 1000, DeliveryLimit: 20}
	testkit.Must(t, topo.DeclareOn(conn))
	pub := messagingtest.Publisher(t, conn, messaging.PublisherConfig{Topology: topo, Timeout: 2 * time.Second, Logger: log})

	writeEvents(t, pool, "events.NoSuchExchange", 1)
	const n = 50
	written := map[string]bool{}
	for _, id := range writeEvents(t, pool, benchTopic, n) {
		written[id] = true
	}
	runForwarder(t, outbox.Config{Pool: pool, Out: pub, BatchSize: 20, Workers: 2, PollInterval: 10 * time.Millisecond, RetryInterval: 50 * time.Millisecond})

	subConn, err := messaging.Connect(ctx, amqpURL, "consume", log)
	testkit.Must(t, err)
	t.Cleanup(func() { subConn.Close() })
	sub, err := messaging.NewEventSubscriber(subConn, "voucher", messaging.SubscriberConfig{Topology: topo, Logger: log})
	testkit.Must(t, err)
	t.Cleanup(func() { sub.Close() })
	msgs, err := sub.Subscribe(ctx, benchTopic)
	testkit.Must(t, err)
	received := map[string]bool{}
	timeout := time.After(60 * time.Second)
	for len(received) < n {
		select {
		case m := <-msgs:
			m.Ack()
			if !written[m.UUID] {
				t.Fatalf("unexpected message %s", m.UUID)
			}
			if string(m.Payload) != `{"n":1}` || m.Metadata.Get("traceparent") != traceparent {
				t.Fatalf("message %s: payload %s, metadata %v", m.UUID, m.Payload, m.Metadata)
			}
			received[m.UUID] = true
		case <-timeout:
			t.Fatalf("%d of %d events received", len(received), n)
		}
	}
	testkit.Eventually(t, 30*time.Second, "only the event without an exchange left", func() bool { return rowsLeft(t, pool) == 1 })
}
