package messaging

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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
	conn    *amqp.ConnectionWrapper
	cfg     PublisherConfig
	timeout time.Duration

	mu         sync.RWMutex
	toQueue    *amqp.Publisher
	toExchange *amqp.Publisher
	// timeouts counts publishes in a row that timed out while connected.
	timeouts atomic.Int32
}

// renewAfter is how many publishes in a row may time out while the
// connection is up before the channel pools are rebuilt: watermill-amqp
// v3.0.2 loses a pooled channel for good when reopening it fails after a
// connection drop (channelprovider.go; upstream PR #37), and once the pool
// is empty every publish waits for ever while the connection looks healthy.
const renewAfter = 3

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
	p := &Publisher{conn: conn, cfg: cfg, timeout: cfg.Timeout}
	var err error
	if p.toQueue, p.toExchange, err = newAMQPPublishers(conn, cfg); err != nil {
		return nil, err
	}
	return p, nil
}

func newAMQPPublishers(conn *amqp.ConnectionWrapper, cfg PublisherConfig) (*amqp.Publisher, *amqp.Publisher, error) {
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
		return nil, nil, fmt.Errorf("queue publisher: %w", err)
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
		return nil, nil, fmt.Errorf("exchange publisher: %w", err)
	}
	return toQueue, toExchange, nil
}

func isQueueTopic(topic string) bool {
	return strings.HasPrefix(topic, "commands.") || strings.HasPrefix(topic, "queue:") || topic == DeadLetterQueue
}

// Publish publishes messages to topic and waits for their confirms, at most
// the configured timeout. On ErrPublishTimeout the publish goes on in the
// background and its channel returns to the pool when the broker answers or
// the connection drops; the pool size bounds how many can be pending.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	pub := p.toExchange
	if isQueueTopic(topic) {
		pub = p.toQueue
	}
	p.mu.RUnlock()
	done := make(chan error, 1)
	go func() { done <- pub.Publish(topic, msgs...) }()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		p.timeouts.Store(0)
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	case <-timer.C:
		if p.IsConnected() && p.timeouts.Add(1) == renewAfter {
			p.renew()
		}
		return fmt.Errorf("publish to %s: %w", topic, ErrPublishTimeout)
	}
}

// renew replaces the channel pools; closing the old ones releases the
// publishes waiting for a channel (they fail, and their callers retry).
func (p *Publisher) renew() {
	toQueue, toExchange, err := newAMQPPublishers(p.conn, p.cfg)
	if err != nil {
		p.timeouts.Store(renewAfter - 1) // try again at the next timeout
		p.cfg.Logger.Warn("publisher channels not renewed", "err", err)
		return
	}
	p.mu.Lock()
	oldQueue, oldExchange := p.toQueue, p.toExchange
	p.toQueue, p.toExchange = toQueue, toExchange
	p.mu.Unlock()
	p.timeouts.Store(0)
	p.cfg.Logger.Warn("publishes timed out while connected: publisher channels renewed")
	closePool(oldQueue)
	closePool(oldExchange)
}

// closePool closes a watermill-amqp publisher's channel pool. Its Close
// panics on a pooled channel whose reopening failed (a nil AMQP channel),
// after it has released the waiting publishes: that panic is absorbed.
func closePool(pub *amqp.Publisher) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("close publisher channels: %v", r)
		}
	}()
	return pub.Close()
}

// IsConnected reports whether the publisher's connection is up.
func (p *Publisher) IsConnected() bool { return p.conn.IsConnected() }

// Close releases the publisher's channels (not the connection).
func (p *Publisher) Close() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return errors.Join(closePool(p.toQueue), closePool(p.toExchange))
}
