package messaging

import (
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
)

// SubscriberConfig configures a subscriber.
type SubscriberConfig struct {
	Topology Topology
	// Prefetch is the per-channel prefetch. Each handler instance consumes on
	// its own channel one message at a time, so 1 (Watermill's default) loses
	// nothing; a higher value only lets the broker push ahead.
	Prefetch int
	Logger   *slog.Logger
}

func (c *SubscriberConfig) defaults() {
	if c.Prefetch == 0 {
		c.Prefetch = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func wmLogger(log *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// NewQueueSubscriber consumes a durable queue whose name is the topic
// (commands.BookRoom, dead_letters): every subscriber competes for its messages.
func NewQueueSubscriber(conn *amqp.ConnectionWrapper, cfg SubscriberConfig) (*amqp.Subscriber, error) {
	cfg.defaults()
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	c := amqp.NewDurableQueueConfig("")
	c.Connection = amqp.ConnectionConfig{AmqpURI: "unused"}
	c.Marshaler = Marshaler{}
	c.TopologyBuilder = topologyBuilder{cfg.Topology}
	c.Consume.Qos.PrefetchCount = cfg.Prefetch
	s, err := amqp.NewSubscriberWithConnection(c, wmLogger(cfg.Logger), conn)
	if err != nil {
		return nil, fmt.Errorf("queue subscriber: %w", err)
	}
	return s, nil
}

// NewEventSubscriber consumes events for service: topic "events.X" is read
// from the durable queue "events.X_<service>", shared by the service's replicas.
func NewEventSubscriber(conn *amqp.ConnectionWrapper, service string, cfg SubscriberConfig) (*amqp.Subscriber, error) {
	cfg.defaults()
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	c := amqp.NewDurablePubSubConfig("", amqp.GenerateQueueNameTopicNameWithSuffix(service))
	c.Connection = amqp.ConnectionConfig{AmqpURI: "unused"}
	c.Marshaler = Marshaler{}
	c.TopologyBuilder = topologyBuilder{cfg.Topology}
	c.Consume.Qos.PrefetchCount = cfg.Prefetch
	s, err := amqp.NewSubscriberWithConnection(c, wmLogger(cfg.Logger), conn)
	if err != nil {
		return nil, fmt.Errorf("event subscriber: %w", err)
	}
	return s, nil
}

// NewReplicaSubscriber consumes a fanout exchange (notifications, control)
// through an exclusive, auto-delete classic queue of this replica alone
// ("<topic>.<replica>"): every replica gets every message, and the queue goes
// away with the replica.
func NewReplicaSubscriber(conn *amqp.ConnectionWrapper, replica string, cfg SubscriberConfig) (*amqp.Subscriber, error) {
	cfg.defaults()
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	c := amqp.NewNonDurablePubSubConfig("", func(topic string) string { return topic + "." + replica })
	c.Connection = amqp.ConnectionConfig{AmqpURI: "unused"}
	c.Marshaler = Marshaler{}
	c.TopologyBuilder = topologyBuilder{cfg.Topology}
	c.Exchange.Durable = true
	c.Queue.Exclusive = true
	c.Queue.AutoDelete = true
	c.Queue.Arguments = map[string]any{"x-queue-type": QueueTypeClassic}
	c.Consume.Qos.PrefetchCount = cfg.Prefetch
	s, err := amqp.NewSubscriberWithConnection(c, wmLogger(cfg.Logger), conn)
	if err != nil {
		return nil, fmt.Errorf("replica subscriber: %w", err)
	}
	return s, nil
}
