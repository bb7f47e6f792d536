package messaging

import (
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
)

// Handlers of Staybook's contracts are Watermill cqrs handlers:
//
//	cqrs.NewEventHandler("create_voucher", func(ctx context.Context, ev *contracts.BookingConfirmed) error { ... })
//
// registered with AddEventHandler or AddCommandHandler. Watermill's cqrs
// processor decodes each message with contracts.Marshaler (a payload of
// another version, or one that fails its contract's Validate, is a permanent
// error: dead-lettered at once); the router gives every consumer the same
// chain as AddHandler (tracing, retries, dead letters, faults).

// Consumption says where a cqrs handler reads and how it retries.
type Consumption struct {
	Subscriber message.Subscriber
	// Topic is the Watermill topic to subscribe to; by default the event's
	// (EventTopic) for an event handler, BookRoomQueue for BookRoom.
	Topic string
	// Queue is the queue the subscriber consumes (dead letters name it, a
	// replay returns there); by default Topic.
	Queue     string
	Policy    RetryPolicy
	Instances int
}

// EventBus publishes contracts on their topics (PublishTopic) through pub
// (the confirming publisher, or an outbox's transactional one).
func EventBus(pub message.Publisher) (*cqrs.EventBus, error) {
	return cqrs.NewEventBusWithConfig(pub, cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) {
			return PublishTopic(p.EventName), nil
		},
		Marshaler: contracts.Marshaler{},
	})
}

// PublishTopic is where an event goes: the broadcasts to every replica
// (BookingStatusChanged to the notifications fanout, FaultChanged to the
// control fanout), every other event to its own exchange, "events.<Name>".
func PublishTopic(event string) string {
	switch event {
	case contracts.BookingStatusChanged{}.SchemaName():
		return NotificationsExchange
	case contracts.FaultChanged{}.SchemaName():
		return ControlExchange
	}
	return EventTopic(event)
}

// CommandBus sends commands to their queues (BookRoom to commands.BookRoom).
func CommandBus(pub message.Publisher) (*cqrs.CommandBus, error) {
	return cqrs.NewCommandBusWithConfig(pub, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return CommandTopic(p.CommandName)
		},
		Marshaler: contracts.Marshaler{},
	})
}

// CommandTopic is the topic a command is sent to.
func CommandTopic(command string) (string, error) {
	if command == (contracts.BookRoom{}).SchemaName() {
		return BookRoomQueue, nil
	}
	return "", fmt.Errorf("messaging: no queue for command %q", command)
}

// AddEventHandler registers h, Instances times, through a cqrs.EventProcessor.
func (r *Router) AddEventHandler(h cqrs.EventHandler, s Consumption) error {
	event := contracts.Marshaler{}.Name(h.NewEvent())
	if s.Topic == "" {
		s.Topic = EventTopic(event)
	}
	return r.register(r.handlerOf(h.HandlerName(), event, s), func(name string, sub message.Subscriber) (*message.Handler, error) {
		p, err := cqrs.NewEventProcessorWithConfig(r.router, cqrs.EventProcessorConfig{
			GenerateSubscribeTopic: func(cqrs.EventProcessorGenerateSubscribeTopicParams) (string, error) { return s.Topic, nil },
			SubscriberConstructor: func(cqrs.EventProcessorSubscriberConstructorParams) (message.Subscriber, error) {
				return sub, nil
			},
			Marshaler: contracts.Marshaler{},
			Logger:    r.wlog,
		})
		if err != nil {
			return nil, err
		}
		return p.AddHandler(namedEventHandler{EventHandler: h, name: name})
	})
}

// AddCommandHandler registers h, Instances times, through a cqrs.CommandProcessor.
func (r *Router) AddCommandHandler(h cqrs.CommandHandler, s Consumption) error {
	command := contracts.Marshaler{}.Name(h.NewCommand())
	if s.Topic == "" {
		topic, err := CommandTopic(command)
		if err != nil {
			return err
		}
		s.Topic = topic
	}
	return r.register(r.handlerOf(h.HandlerName(), command, s), func(name string, sub message.Subscriber) (*message.Handler, error) {
		p, err := cqrs.NewCommandProcessorWithConfig(r.router, cqrs.CommandProcessorConfig{
			GenerateSubscribeTopic: func(cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) { return s.Topic, nil },
			SubscriberConstructor: func(cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
				return sub, nil
			},
			Marshaler: contracts.Marshaler{},
			Logger:    r.wlog,
		})
		if err != nil {
			return nil, err
		}
		return p.AddHandler(namedCommandHandler{CommandHandler: h, name: name})
	})
}

// handlerOf describes a cqrs handler to register; its innermost middleware
// refuses a message of another name as malformed (the processor's own
// refusal would be retried like a transient failure:
// docs/upstream/watermill-cqrs-unexpected-name.md).
func (r *Router) handlerOf(name, contract string, s Consumption) Handler {
	queue := s.Queue
	if queue == "" {
		queue = queueOf(s.Topic)
	}
	return Handler{Name: name, Topic: s.Topic, Queue: queue, Subscriber: s.Subscriber, Policy: s.Policy,
		Instances: s.Instances, expect: contract}
}

// queueOf is the queue a topic is read from when it names one ("queue:x" is x).
func queueOf(topic string) string {
	return strings.TrimPrefix(topic, QueueTopic(""))
}

// expectName refuses a message whose name is not contract.
func expectName(contract string) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			if name := (contracts.Marshaler{}).NameFromMessage(msg); name != contract {
				return nil, fmt.Errorf("%w: message name %q, want %q", contracts.ErrMalformed, name, contract)
			}
			return next(msg)
		}
	}
}

type namedEventHandler struct {
	cqrs.EventHandler
	name string
}

func (h namedEventHandler) HandlerName() string { return h.name }

type namedCommandHandler struct {
	cqrs.CommandHandler
	name string
}

func (h namedCommandHandler) HandlerName() string { return h.name }
