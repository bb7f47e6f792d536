package messaging_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

func TestTopology_TerminalQueuesHaveNoReachableDeliveryLimit(t *testing.T) {
	quorum := messaging.Topology{QueueType: messaging.QueueTypeQuorum, BookingQueueMax: 10, DeliveryLimit: 5}
	for _, q := range []string{messaging.DeadLetterQueue, messaging.UnroutableQueue} {
		args := quorum.QueueArguments(q)
		// Set explicitly: left out, RabbitMQ 4.x applies its default of 20
		// and deletes a letter returned more often (there is no dead-letter
		// target); -1 would drop it at its first return on 3.10.
		if got := args["x-delivery-limit"]; got != int64(messaging.UnlimitedDeliveries) {
			t.Errorf("%s: x-delivery-limit = %v, want %d", q, got, messaging.UnlimitedDeliveries)
		}
		if _, ok := args["x-dead-letter-exchange"]; ok {
			t.Errorf("%s: a terminal queue dead-letters to %v", q, args["x-dead-letter-exchange"])
		}
		if args["x-queue-type"] != messaging.QueueTypeQuorum {
			t.Errorf("%s: x-queue-type = %v", q, args["x-queue-type"])
		}
	}
	// Every other quorum queue has the configured limit, and its spent
	// messages go to dead_letters, at least once.
	for _, q := range quorum.DurableQueues() {
		if q == messaging.DeadLetterQueue || q == messaging.UnroutableQueue {
			continue
		}
		args := quorum.QueueArguments(q)
		if args["x-delivery-limit"] != int64(5) || args["x-dead-letter-routing-key"] != messaging.DeadLetterQueue ||
			args["x-dead-letter-strategy"] != "at-least-once" || args["x-overflow"] != "reject-publish" {
			t.Errorf("%s: arguments %v", q, args)
		}
	}
	// Classic queues have no delivery limit on any version.
	for _, q := range classic().DurableQueues() {
		if _, ok := classic().QueueArguments(q)["x-delivery-limit"]; ok {
			t.Errorf("classic %s has a delivery limit", q)
		}
	}
}

// requeue takes the message at the head of queue and returns it (nack with
// requeue) n times, and reports how many messages the queue holds then.
func requeue(t *testing.T, url, queue string, n int) int {
	t.Helper()
	conn, err := amqp091.Dial(url)
	testkit.Must(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	testkit.Must(t, err)
	testkit.Must(t, ch.Qos(1, 0, false))
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	testkit.Must(t, err)
	for i := range n {
		select {
		case d := <-deliveries:
			testkit.Must(t, d.Nack(false, true))
		case <-time.After(5 * time.Second):
			t.Logf("no delivery %d of %d", i+1, n)
			ch.Close()
			return testkit.QueueDepth(t, url, queue)
		}
	}
	testkit.Must(t, ch.Close()) // the last delivery went back with its nack
	depth := 0
	testkit.Eventually(t, 5*time.Second, "queue depth settles", func() bool {
		depth = testkit.QueueDepth(t, url, queue)
		return depth == 1
	})
	return depth
}

// On the broker: a dead letter returned more often than RabbitMQ 4.x's
// default limit of 20 (a crash loop of the deadletters service) is still there.
func TestTopology_DeadLetterReturnedManyTimesIsNotDropped(t *testing.T) {
	t.Parallel()
	topo := messaging.Topology{QueueType: messaging.QueueTypeQuorum, BookingQueueMax: 10, DeliveryLimit: 5}
	e := newEnv(t, topo)
	testkit.Must(t, e.pub.Publish(messaging.DeadLetterQueue, bookRoom(t, "b-letter")))
	if n := requeue(t, e.url, messaging.DeadLetterQueue, 25); n != 1 {
		t.Fatalf("dead_letters holds %d messages after 25 returns, want 1", n)
	}
}

// Why the terminal queues do not use -1 ("unlimited" on 4.x): RabbitMQ 3.x
// accepts it and drops the message at its first return.
func TestRabbitMQ3_DeliveryLimitMinusOneDropsAtTheFirstReturn(t *testing.T) {
	t.Parallel()
	url := testkit.Vhost(t)
	conn, err := amqp091.Dial(url)
	testkit.Must(t, err)
	defer conn.Close()
	if v := fmt.Sprint(conn.Properties["version"]); !strings.HasPrefix(v, "3.") {
		t.Skipf("RabbitMQ %s: -1 means unlimited since 4.0", v)
	}
	ch, err := conn.Channel()
	testkit.Must(t, err)
	_, err = ch.QueueDeclare("minus_one", true, false, false, false, amqp091.Table{"x-queue-type": "quorum", "x-delivery-limit": int64(-1)})
	testkit.Must(t, err)
	testkit.Must(t, ch.Confirm(false))
	confirmed := ch.NotifyPublish(make(chan amqp091.Confirmation, 1))
	testkit.Must(t, ch.Publish("", "minus_one", false, false, amqp091.Publishing{Body: []byte("x"), DeliveryMode: amqp091.Persistent}))
	if c := <-confirmed; !c.Ack {
		t.Fatal("publish not confirmed")
	}
	deliveries, err := ch.Consume("minus_one", "", false, false, false, false, nil)
	testkit.Must(t, err)
	d := <-deliveries
	testkit.Must(t, d.Nack(false, true))
	testkit.Eventually(t, 5*time.Second, "message dropped at its first return", func() bool {
		return testkit.QueueDepth(t, url, "minus_one") == 0
	})
	select {
	case <-deliveries:
		t.Fatal("the message came back")
	case <-time.After(time.Second):
	}
}
