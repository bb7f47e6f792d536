package outbox_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

// An event written to the outbox while RabbitMQ is unreachable is published
// once RabbitMQ is back: the row waits in the table, nothing is lost.
func TestForwarder_EventWrittenWhileBrokerIsDownIsPublishedLater_ConnectionLost(t *testing.T) {
	testkit.SkipIfConnectionLossUnderRace(t)
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	amqpURL := testkit.Vhost(t)
	proxied, proxy := testkit.ProxyURL(t, amqpURL)

	ctx := testkit.Context(t)
	pool := testPool(t)
	topo := messaging.Topology{QueueType: "classic", BookingQueueMax: 100000, DeliveryLimit: 20}
	conn := messagingtest.Connect(t, proxied, "forwarder", log)
	testkit.Must(t, topo.DeclareOn(conn))
	pub := messagingtest.Publisher(t, conn, messaging.PublisherConfig{Topology: topo, Timeout: 2 * time.Second, Logger: log})
	fwd, err := outbox.NewForwarder(ctx, outbox.Config{Pool: pool, Out: pub, PollInterval: 20 * time.Millisecond, Logger: log})
	testkit.Must(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fwd.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	<-fwd.Running()

	proxy.Cut()
	testkit.Eventually(t, 10*time.Second, "publisher sees the broker gone", func() bool { return !pub.IsConnected() })
	msg, err := contracts.NewMessage(ctx, contracts.BookingConfirmed{BookingID: "b-outbox"}, "b-outbox")
	testkit.Must(t, err)
	testkit.Must(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return outbox.Publisher(tx).Publish(messaging.EventTopic(messaging.EventBookingConfirmed), msg)
	}))
	// While the broker is away the event waits in the table.
	for range 10 {
		if _, n, err := outbox.Lag(ctx, pool); err != nil || n != 1 {
			t.Fatalf("outbox rows %d (%v), want 1 while the broker is down", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	proxy.Restore()
	queue := messaging.SubscriptionQueue(messaging.EventBookingConfirmed, "voucher")
	testkit.Eventually(t, 60*time.Second, "event published after the broker came back", func() bool {
		return testkit.QueueDepth(t, amqpURL, queue) == 1
	})
	testkit.Eventually(t, 10*time.Second, "outbox row deleted", func() bool {
		_, n, _ := outbox.Lag(ctx, pool)
		return n == 0
	})
	if n := testkit.QueueDepth(t, amqpURL, queue); n != 1 {
		t.Fatalf("%d copies of the event, want 1", n)
	}
}
