// Package messaging is Staybook's RabbitMQ setup on Watermill: the topology
// every service declares, connections with retries, publishers that wait for
// broker confirms within a deadline, subscriber configs, a marshaler that
// survives non-string AMQP headers, and the router with its middleware chain.
package messaging

import (
	"fmt"
	"math"
	"slices"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Names on the broker (docs/architecture.md, "Messaging"). Watermill topics are
// these names: a command's topic is its queue, an event's topic is its
// fanout exchange, and a service's queue for an event is "<exchange>_<service>".
const (
	BookRoomQueue         = "commands.BookRoom"
	DeadLetterQueue       = "dead_letters"
	UnroutableExchange    = "unroutable"
	UnroutableQueue       = "unroutable"
	NotificationsExchange = "notifications"
	ControlExchange       = "control"
)

// Events published on the broker, each a durable fanout exchange "events.<name>".
const (
	EventBookingConfirmed      = "BookingConfirmed"
	EventBookingRejected       = "BookingRejected"
	EventVoucherCreated        = "VoucherCreated"
	EventConfirmationEmailSent = "ConfirmationEmailSent"
	EventCustomerNotified      = "CustomerNotified"
	EventTaskFailed            = "TaskFailed"
)

// Events lists every event exchange.
var Events = []string{
	EventBookingConfirmed, EventBookingRejected, EventVoucherCreated,
	EventConfirmationEmailSent, EventCustomerNotified, EventTaskFailed,
}

// EventTopic is the Watermill topic (and exchange) of an event.
func EventTopic(event string) string { return "events." + event }

// SubscriptionQueue is the durable queue through which service receives event.
func SubscriptionQueue(event, service string) string { return EventTopic(event) + "_" + service }

// Subscription is one service's durable subscription to one event.
type Subscription struct{ Event, Service string }

// Subscriptions is who consumes what (docs/architecture.md, "Services").
var Subscriptions = []Subscription{
	{EventBookingConfirmed, "voucher"},
	{EventBookingConfirmed, "notification"},
	{EventBookingRejected, "notification"},
	{EventVoucherCreated, "booking"},
	{EventVoucherCreated, "email"},
	{EventConfirmationEmailSent, "booking"},
	{EventConfirmationEmailSent, "notification"},
	{EventCustomerNotified, "booking"},
	{EventTaskFailed, "booking"},
}

// Queue types (AMQP_QUEUE_TYPE).
const (
	QueueTypeClassic = "classic"
	QueueTypeQuorum  = "quorum"
)

// Topology is the whole set of exchanges, queues and bindings. Every service
// declares it identically at start-up and on every reconnect, so whichever
// service starts first, nothing is published where no queue is bound.
type Topology struct {
	QueueType       string // classic or quorum; the same in every service
	BookingQueueMax int    // bound of commands.BookRoom (x-max-length, reject-publish)
	DeliveryLimit   int    // quorum queues only: deliveries before the broker dead-letters
}

// UnlimitedDeliveries is the delivery limit of the terminal quorum queues
// (dead_letters, unroutable), which have nothing to dead-letter to: since
// RabbitMQ 4.0 a quorum queue without x-delivery-limit gets a limit of 20,
// and a message returned more often than that is deleted. The value -1 means
// unlimited on 4.x only: RabbitMQ 3.10 accepts it and then drops a message
// at its first return (measured, docs/scaling.md). A limit this high is
// the same argument on both versions (so a broker upgrade keeps the queue
// declarable) and is never reached: at one return a second, 68 years.
const UnlimitedDeliveries = math.MaxInt32

// QueueArguments are the arguments a durable queue of the topology is
// declared with.
func (t Topology) QueueArguments(name string) amqp091.Table {
	args := amqp091.Table{}
	switch name {
	case DeadLetterQueue, UnroutableQueue:
		// terminal queues: nothing further to dead-letter to, so nothing
		// may ever be dropped.
		if t.QueueType == QueueTypeQuorum {
			args["x-queue-type"] = QueueTypeQuorum
			args["x-delivery-limit"] = int64(UnlimitedDeliveries)
		}
		return args
	}
	args["x-dead-letter-exchange"] = ""
	args["x-dead-letter-routing-key"] = DeadLetterQueue
	if t.QueueType == QueueTypeQuorum {
		args["x-queue-type"] = QueueTypeQuorum
		args["x-delivery-limit"] = int64(t.DeliveryLimit)
		args["x-dead-letter-strategy"] = "at-least-once"
		args["x-overflow"] = "reject-publish"
	}
	if name == BookRoomQueue {
		args["x-max-length"] = int64(t.BookingQueueMax)
		args["x-overflow"] = "reject-publish"
	}
	return args
}

// exchangeArgs gives the event exchanges an alternate exchange, so an event
// published where no queue is bound is kept. The broadcast exchanges
// (notifications, control) have none: their messages are only for the
// replicas up at the time, and with no web replica up every status change
// would otherwise pile up in unroutable (the chaos suite saw it).
func exchangeArgs(name string) amqp091.Table {
	switch name {
	case UnroutableExchange, NotificationsExchange, ControlExchange:
		return nil
	}
	return amqp091.Table{"alternate-exchange": UnroutableExchange}
}

// Validate reports a topology that cannot be declared.
func (t Topology) Validate() error {
	if t.QueueType != QueueTypeClassic && t.QueueType != QueueTypeQuorum {
		return fmt.Errorf("queue type %q is not classic or quorum", t.QueueType)
	}
	if t.BookingQueueMax < 1 {
		return fmt.Errorf("booking queue bound %d must be at least 1", t.BookingQueueMax)
	}
	if t.QueueType == QueueTypeQuorum && t.DeliveryLimit < 1 {
		return fmt.Errorf("delivery limit %d must be at least 1", t.DeliveryLimit)
	}
	return nil
}

// DurableQueues lists every durable queue of the topology.
func (t Topology) DurableQueues() []string {
	qs := []string{BookRoomQueue, DeadLetterQueue, UnroutableQueue}
	for _, s := range Subscriptions {
		qs = append(qs, SubscriptionQueue(s.Event, s.Service))
	}
	return qs
}

// Exchanges lists every exchange of the topology (all durable fanouts).
func (t Topology) Exchanges() []string {
	ex := []string{UnroutableExchange, NotificationsExchange, ControlExchange}
	for _, e := range Events {
		ex = append(ex, EventTopic(e))
	}
	return ex
}

// Declare declares every exchange, queue and binding on ch. It is idempotent;
// a queue that exists with other arguments makes it fail (PRECONDITION_FAILED),
// which is the broker telling us the services disagree on the topology.
func (t Topology) Declare(ch *amqp091.Channel) error {
	for _, ex := range t.Exchanges() {
		if err := ch.ExchangeDeclare(ex, amqp091.ExchangeFanout, true, false, false, false, exchangeArgs(ex)); err != nil {
			return fmt.Errorf("declare exchange %s: %w", ex, err)
		}
	}
	for _, q := range t.DurableQueues() {
		if _, err := ch.QueueDeclare(q, true, false, false, false, t.QueueArguments(q)); err != nil {
			return fmt.Errorf("declare queue %s: %w", q, err)
		}
	}
	if err := ch.QueueBind(UnroutableQueue, "", UnroutableExchange, false, nil); err != nil {
		return fmt.Errorf("bind %s: %w", UnroutableQueue, err)
	}
	for _, s := range Subscriptions {
		q, ex := SubscriptionQueue(s.Event, s.Service), EventTopic(s.Event)
		if err := ch.QueueBind(q, "", ex, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s: %w", q, ex, err)
		}
	}
	return nil
}

// DeclareOn opens a channel on conn, declares the topology and closes the channel.
func (t Topology) DeclareOn(conn *amqp.ConnectionWrapper) error {
	ch, err := conn.Connection().Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	return t.Declare(ch)
}

// topologyBuilder plugs Topology into Watermill: every subscribe (and every
// re-subscribe after a reconnect) declares the whole topology first, then the
// subscriber's own queue if it is not part of it (a per-replica queue).
type topologyBuilder struct{ topology Topology }

func (b topologyBuilder) ExchangeDeclare(ch *amqp091.Channel, exchange string, _ amqp.Config) error {
	return ch.ExchangeDeclare(exchange, amqp091.ExchangeFanout, true, false, false, false, exchangeArgs(exchange))
}

func (b topologyBuilder) BuildTopology(ch *amqp091.Channel, p amqp.BuildTopologyParams, cfg amqp.Config, log watermill.LoggerAdapter) error {
	if err := b.topology.Declare(ch); err != nil {
		return err
	}
	if slices.Contains(b.topology.DurableQueues(), p.QueueName) {
		return nil
	}
	if _, err := ch.QueueDeclare(p.QueueName, cfg.Queue.Durable, cfg.Queue.AutoDelete, cfg.Queue.Exclusive, false, cfg.Queue.Arguments); err != nil {
		return fmt.Errorf("declare queue %s: %w", p.QueueName, err)
	}
	if p.ExchangeName == "" {
		return nil
	}
	if err := b.ExchangeDeclare(ch, p.ExchangeName, cfg); err != nil {
		return fmt.Errorf("declare exchange %s: %w", p.ExchangeName, err)
	}
	if err := ch.QueueBind(p.QueueName, p.RoutingKey, p.ExchangeName, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", p.QueueName, p.ExchangeName, err)
	}
	return nil
}
