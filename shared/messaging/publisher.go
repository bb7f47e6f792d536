package messaging

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrPublishTimeout: the broker did not confirm the message within the deadline.
// The message may or may not have been stored.
var ErrPublishTimeout = errors.New("publish not confirmed before the deadline")

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Topology Topology
	// ChannelPoolSize is how many AMQP channels publish concurrently; each
	// waits for its confirm, so this bounds publishes in flight.
	ChannelPoolSize int
	// Timeout is the deadline for one Publish call, confirm included.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Publisher publishes to the whole topology over one connection: to a queue
// through the default exchange (topics "commands.*", "dead_letters" and any
// other queue name given by QueueTopic), and to fanout exchanges (topics
// "events.*", "notifications", "control"). Every Publish waits for the
// broker's confirm and fails after the deadline, so a caller never reports
// success for a message the broker did not store; a message the broker
// refuses (a full queue with reject-publish) is an error.
type Publisher struct {
	toQueue    *amqp.Publisher
	toExchange *amqp.Publisher
	timeout    time.Duration
}

// QueueTopic marks a topic as a queue name to publish to through the default
// exchange (replaying a dead letter to one service's queue).
func QueueTopic(queue string) string { return "queue:" + queue }

// NewPublisher builds a Publisher on conn.
func NewPublisher(conn *amqp.ConnectionWrapper, cfg PublisherConfig) (*Publisher, error) {
	if cfg.ChannelPoolSize == 0 {
		cfg.ChannelPoolSize = 16
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	wlog := wmLogger(cfg.Logger)

	qcfg := amqp.NewDurableQueueConfig("")
	qcfg.Connection = amqp.ConnectionConfig{AmqpURI: "unused"}
	qcfg.Marshaler = Marshaler{}
	qcfg.TopologyBuilder = topologyBuilder{cfg.Topology}
	qcfg.Publish.ConfirmDelivery = true
	qcfg.Publish.ChannelPoolSize = cfg.ChannelPoolSize
	qcfg.Publish.GenerateRoutingKey = func(topic string) string { return strings.TrimPrefix(topic, "queue:") }
	toQueue, err := amqp.NewPublisherWithConnection(qcfg, wlog, conn)
	if err != nil {
		return nil, fmt.Errorf("queue publisher: %w", err)
	}

	ecfg := amqp.NewDurablePubSubConfig("", nil)
	ecfg.Connection = amqp.ConnectionConfig{AmqpURI: "unused"}
	ecfg.Marshaler = Marshaler{}
	ecfg.TopologyBuilder = topologyBuilder{cfg.Topology}
	ecfg.Publish.ConfirmDelivery = true
	ecfg.Publish.ChannelPoolSize = cfg.ChannelPoolSize
	toExchange, err := amqp.NewPublisherWithConnection(ecfg, wlog, conn)
	if err != nil {
		toQueue.Close()
		return nil, fmt.Errorf("exchange publisher: %w", err)
	}
	return &Publisher{toQueue: toQueue, toExchange: toExchange, timeout: cfg.Timeout}, nil
}

func isQueueTopic(topic string) bool {
	return strings.HasPrefix(topic, "commands.") || strings.HasPrefix(topic, "queue:") || topic == DeadLetterQueue
}

// Publish publishes messages to topic and waits for their confirms, at most
// the configured timeout. On ErrPublishTimeout the publish goes on in the
// background and its channel returns to the pool when the broker answers or
// the connection drops; the pool size bounds how many can be pending.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	pub := p.toExchange
	if isQueueTopic(topic) {
		pub = p.toQueue
	}
	done := make(chan error, 1)
	go func() { done <- pub.Publish(topic, msgs...) }()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("publish to %s: %w", topic, ErrPublishTimeout)
	}
}

// IsConnected reports whether the publisher's connection is up.
func (p *Publisher) IsConnected() bool { return p.toQueue.IsConnected() }

// Close releases the publisher's channels (not the connection).
func (p *Publisher) Close() error {
	return errors.Join(p.toQueue.Close(), p.toExchange.Close())
}
