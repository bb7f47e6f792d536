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
	amqp091 "github.com/rabbitmq/amqp091-go"
)

var (
	// ErrPublishTimeout: the broker did not confirm the message within the
	// deadline. The message may or may not have been stored.
	ErrPublishTimeout = errors.New("publish not confirmed before the deadline")
	// ErrUnroutable: the broker returned the message because no queue
	// received it (a deleted command queue, a missing dead_letters). An
	// event routed to the alternate exchange "unroutable" is not returned.
	ErrUnroutable = errors.New("no queue received the message")
	// ErrNotConfirmed: the broker refused the message (a basic.nack: a full
	// queue with reject-publish) or the channel closed before its confirm.
	ErrNotConfirmed = errors.New("broker did not confirm the message")
	// ErrBusy: MaxInFlight messages await their confirms and no room came
	// free within RoomWait; nothing was sent. The broker is not keeping up:
	// a caller answering a person says so at once (503) rather than late.
	ErrBusy = errors.New("too many messages awaiting the broker's confirms")
	// ErrNotConnected: the publisher's connection is down; nothing was sent.
	ErrNotConnected = errors.New("not connected to rabbitmq")
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Topology Topology
	// ChannelPoolSize is how many AMQP channels publish; each carries many
	// messages awaiting their confirms (default 4).
	ChannelPoolSize int
	// MaxInFlight bounds the messages published and not yet confirmed, all
	// channels together (default 1024). A publish waits for room within its
	// deadline, or RoomWait.
	MaxInFlight int
	// RoomWait, if set, is how long a publish waits for room among
	// MaxInFlight before it fails with ErrBusy (default: the whole Timeout).
	RoomWait time.Duration
	// Timeout is the deadline for one Publish call, confirms included.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Publisher publishes to the whole topology over one connection: to a queue
// through the default exchange (topics "commands.*", "dead_letters" and any
// other queue name given by QueueTopic), and to fanout exchanges (topics
// "events.*", "notifications", "control").
//
// A Publish returns nil only once the broker confirmed every message and,
// for queues and events, routed it: such messages are published mandatory,
// and one that comes back (basic.return) is ErrUnroutable. An event no
// service is bound for goes to the alternate exchange "unroutable" and
// counts as routed. The broadcasts (notifications, control) are for the
// replicas up at the time and are not mandatory.
//
// It is written on amqp091 rather than watermill-amqp's publisher, which
// keeps one confirm outstanding per channel and ignores returns: here each
// channel has many messages in flight (deferred confirmations), bounded by
// MaxInFlight. Messages are marshaled by Marshaler, as watermill-amqp's
// subscribers expect. Channels are opened on demand, so a channel lost with
// the connection is reopened by the next publish after the reconnect.
type Publisher struct {
	conn     *amqp.ConnectionWrapper
	cfg      PublisherConfig
	room     chan struct{} // one token per message in flight
	channels []*confirmChannel
	next     atomic.Uint64
	closed   atomic.Bool
}

// QueueTopic marks a topic as a queue name to publish to through the default
// exchange (replaying a dead letter to one service's queue).
func QueueTopic(queue string) string { return "queue:" + queue }

// NewPublisher builds a Publisher on conn.
func NewPublisher(conn *amqp.ConnectionWrapper, cfg PublisherConfig) (*Publisher, error) {
	if conn == nil {
		panic("messaging: NewPublisher with a nil connection")
	}
	if cfg.ChannelPoolSize == 0 {
		cfg.ChannelPoolSize = 4
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 1024
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
	if cfg.ChannelPoolSize < 1 || cfg.MaxInFlight < 1 || cfg.Timeout < 0 {
		return nil, fmt.Errorf("publisher: channels %d, in flight %d and timeout %s must be positive",
			cfg.ChannelPoolSize, cfg.MaxInFlight, cfg.Timeout)
	}
	p := &Publisher{conn: conn, cfg: cfg, room: make(chan struct{}, cfg.MaxInFlight)}
	for range cfg.ChannelPoolSize {
		p.channels = append(p.channels, &confirmChannel{})
	}
	return p, nil
}

func isQueueTopic(topic string) bool {
	return strings.HasPrefix(topic, "commands.") || strings.HasPrefix(topic, "queue:") || topic == DeadLetterQueue
}

// route is where a topic's messages go.
type route struct {
	exchange, key string
	mandatory     bool
}

func routeOf(topic string) route {
	switch {
	case isQueueTopic(topic):
		return route{exchange: "", key: strings.TrimPrefix(topic, "queue:"), mandatory: true}
	case topic == NotificationsExchange || topic == ControlExchange:
		return route{exchange: topic}
	default:
		return route{exchange: topic, mandatory: true}
	}
}

// Publish publishes msgs to topic and waits, at most the configured
// timeout, until the broker confirmed and routed every one. Messages sent
// before a timeout may still be stored: callers retry, consumers are
// idempotent. Their confirms are awaited in the background and keep their
// room in MaxInFlight until they arrive or the channel closes.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if p.closed.Load() {
		return fmt.Errorf("publish to %s: publisher closed", topic)
	}
	if len(msgs) > p.cfg.MaxInFlight {
		return fmt.Errorf("publish to %s: %d messages at once, more than MaxInFlight %d", topic, len(msgs), p.cfg.MaxInFlight)
	}
	if !p.conn.IsConnected() {
		return fmt.Errorf("publish to %s: %w", topic, ErrNotConnected)
	}
	publishings := make([]amqp091.Publishing, len(msgs))
	for i, msg := range msgs {
		var err error
		if publishings[i], err = (Marshaler{}).Marshal(msg); err != nil {
			return fmt.Errorf("publish to %s: marshal %s: %w", topic, msg.UUID, err)
		}
	}
	timer := time.NewTimer(p.cfg.Timeout)
	defer timer.Stop()
	if err := p.reserve(len(msgs), timer.C); err != nil {
		return fmt.Errorf("publish to %s: %d messages already in flight: %w", topic, p.cfg.MaxInFlight, err)
	}
	// The socket write itself can block (a broker under a memory alarm
	// stops reading), so the deadline is kept here, not in the sender.
	result := make(chan error, 1)
	go func() {
		defer p.release(len(msgs))
		result <- p.send(routeOf(topic), publishings)
	}()
	select {
	case err := <-result:
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("publish to %s: %w", topic, ErrPublishTimeout)
	}
}

// reserve takes room for n messages among MaxInFlight, waiting at most
// RoomWait (ErrBusy) or until deadline fires (ErrPublishTimeout).
func (p *Publisher) reserve(n int, deadline <-chan time.Time) error {
	var busy <-chan time.Time
	if p.cfg.RoomWait > 0 && p.cfg.RoomWait < p.cfg.Timeout {
		t := time.NewTimer(p.cfg.RoomWait)
		defer t.Stop()
		busy = t.C
	}
	for i := range n {
		select {
		case p.room <- struct{}{}:
			continue
		default:
		}
		select {
		case p.room <- struct{}{}:
		case <-busy:
			p.release(i)
			return ErrBusy
		case <-deadline:
			p.release(i)
			return ErrPublishTimeout
		}
	}
	return nil
}

func (p *Publisher) release(n int) {
	for range n {
		<-p.room
	}
}

// send publishes on one channel, waits for every confirm and for the
// returns that precede them, and reports every failure.
func (p *Publisher) send(r route, publishings []amqp091.Publishing) error {
	cc := p.channels[p.next.Add(1)%uint64(len(p.channels))]
	ch, watch, err := cc.get(p.conn, p.cfg.MaxInFlight)
	if err != nil {
		return err
	}
	confirms := make([]*amqp091.DeferredConfirmation, 0, len(publishings))
	var sendErr error
	for _, pub := range publishings {
		dc, err := ch.PublishWithDeferredConfirm(r.exchange, r.key, r.mandatory, false, pub)
		if err != nil {
			sendErr = fmt.Errorf("send: %w", err)
			break
		}
		confirms = append(confirms, dc)
	}
	for _, dc := range confirms {
		<-dc.Done() // an ack, a nack, or the channel's close
	}
	// RabbitMQ sends a basic.return before the confirm of the same message.
	errs := []error{sendErr}
	for i, dc := range confirms {
		returned := watch.take(returnKey{r.exchange, r.key, publishings[i].MessageId})
		switch {
		case !dc.Acked():
			errs = append(errs, fmt.Errorf("message %s: %w", publishings[i].MessageId, ErrNotConfirmed))
		case returned:
			errs = append(errs, fmt.Errorf("message %s to exchange %q key %q: %w", publishings[i].MessageId, r.exchange, r.key, ErrUnroutable))
		}
	}
	return errors.Join(errs...)
}

// IsConnected reports whether the publisher's connection is up.
func (p *Publisher) IsConnected() bool { return p.conn.IsConnected() }

// Close closes the publisher's channels (not the connection); confirms
// still awaited resolve as not confirmed.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	var errs []error
	for _, cc := range p.channels {
		errs = append(errs, cc.close())
	}
	return errors.Join(errs...)
}

// confirmChannel is one AMQP channel in confirm mode, opened on demand and
// reopened after it closed (a lost connection, a channel error).
type confirmChannel struct {
	mu     sync.Mutex
	ch     *amqp091.Channel
	watch  *returnWatch
	closed bool // by Publisher.Close: never reopened
}

func (c *confirmChannel) get(conn *amqp.ConnectionWrapper, maxInFlight int) (*amqp091.Channel, *returnWatch, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, errors.New("publisher closed")
	}
	if c.ch != nil && !c.ch.IsClosed() {
		return c.ch, c.watch, nil
	}
	if !conn.IsConnected() {
		return nil, nil, ErrNotConnected
	}
	ch, err := conn.Connection().Channel()
	if err != nil {
		return nil, nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, nil, fmt.Errorf("confirm mode: %w", err)
	}
	c.watch = newReturnWatch(ch.NotifyReturn(make(chan amqp091.Return, maxInFlight)))
	c.ch = ch
	return c.ch, c.watch, nil
}

func (c *confirmChannel) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.ch == nil || c.ch.IsClosed() {
		return nil
	}
	return c.ch.Close()
}

// returnKey identifies a returned message: where it was sent, and its ID.
type returnKey struct{ exchange, key, messageID string }

// returnWatch collects a channel's basic.returns. amqp091 hands a return to
// the returns Go channel before it reads the confirm that follows it, so a
// publisher that saw its confirm finds its return either in the buffer or
// already moved to the map by another publisher: drain under the lock, then
// look. The buffer holds MaxInFlight returns, more than can be waiting (each
// belongs to a message in flight, and its publisher drains before it frees
// the room), so amqp091 never gives up on handing one over.
type returnWatch struct {
	mu       sync.Mutex
	returns  <-chan amqp091.Return
	returned map[returnKey]int
}

func newReturnWatch(returns <-chan amqp091.Return) *returnWatch {
	return &returnWatch{returns: returns, returned: map[returnKey]int{}}
}

// take reports (and forgets) one return of the message k.
func (w *returnWatch) take(k returnKey) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.drain()
	if w.returned[k] == 0 {
		return false
	}
	if w.returned[k]--; w.returned[k] == 0 {
		delete(w.returned, k)
	}
	return true
}

// drain moves the returns handed over so far into the map; w.mu is held.
func (w *returnWatch) drain() {
	for {
		select {
		case r, ok := <-w.returns:
			if !ok {
				return
			}
			w.returned[returnKey{r.Exchange, r.RoutingKey, r.MessageId}]++
		default:
			return
		}
	}
}
