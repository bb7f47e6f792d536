package servicekit

import (
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

// Handling is how a handler consumes: its retry policy (the default, which
// <HANDLER>_MAX_ATTEMPTS and the like override) and how many copies of it
// consume at once.
type Handling struct {
	Policy    messaging.RetryPolicy
	Instances int
}

// HandleEvent registers an event handler (cqrs.NewEventHandler) on this
// service's durable subscription to its event: the queue
// events.<Event>_<service>, shared by the service's replicas.
func (s *Service) HandleEvent(h cqrs.EventHandler, how Handling) error {
	event := contracts.Marshaler{}.Name(h.NewEvent())
	sub, err := s.subscriber("events", func() (message.Subscriber, error) {
		return messaging.NewEventSubscriber(s.subConn, s.Name, messaging.SubscriberConfig{Topology: s.Topology, Logger: s.Log})
	})
	if err != nil {
		return err
	}
	policy, err := messaging.LoadRetryPolicy(h.HandlerName(), how.Policy)
	if err != nil {
		return err
	}
	queue := messaging.SubscriptionQueue(event, s.Name)
	s.backlog = append(s.backlog, queue)
	return s.Router.AddEventHandler(h, messaging.Consumption{
		Subscriber: sub, Queue: queue, Policy: policy, Instances: how.Instances,
	})
}

// HandleCommand registers a command handler (cqrs.NewCommandHandler) on the
// command's durable queue (BookRoom: commands.BookRoom), where every replica
// competes for the commands.
func (s *Service) HandleCommand(h cqrs.CommandHandler, how Handling) error {
	sub, err := s.QueueSubscriber()
	if err != nil {
		return err
	}
	policy, err := messaging.LoadRetryPolicy(h.HandlerName(), how.Policy)
	if err != nil {
		return err
	}
	topic, err := messaging.CommandTopic(contracts.Marshaler{}.Name(h.NewCommand()))
	if err != nil {
		return err
	}
	s.backlog = append(s.backlog, topic)
	return s.Router.AddCommandHandler(h, messaging.Consumption{
		Subscriber: sub, Topic: topic, Policy: policy, Instances: how.Instances,
	})
}

// HandleMessages registers a handler of raw messages (the dead letters,
// whatever their contract), with its policy read from the environment over
// h.Policy. Its Subscriber is QueueSubscriber's when unset.
func (s *Service) HandleMessages(h messaging.Handler) error {
	if h.Subscriber == nil {
		sub, err := s.QueueSubscriber()
		if err != nil {
			return err
		}
		h.Subscriber = sub
	}
	policy, err := messaging.LoadRetryPolicy(h.Name, h.Policy)
	if err != nil {
		return err
	}
	h.Policy = policy
	if h.Queue == "" {
		h.Queue = h.Topic
	}
	s.backlog = append(s.backlog, h.Queue)
	s.Router.AddHandler(h)
	return nil
}

// QueueSubscriber reads durable queues named by their topic
// (commands.BookRoom, dead_letters), competing with every other replica.
func (s *Service) QueueSubscriber() (message.Subscriber, error) {
	return s.subscriber("queues", func() (message.Subscriber, error) {
		return messaging.NewQueueSubscriber(s.subConn, messaging.SubscriberConfig{Topology: s.Topology, Logger: s.Log})
	})
}

// ReplicaSubscriber reads a fanout exchange through a queue of this replica
// alone (messaging.NewReplicaSubscriber); prefetch lets the broker push ahead.
func (s *Service) ReplicaSubscriber(replica string, prefetch int) (message.Subscriber, error) {
	return s.subscriber("replica "+replica, func() (message.Subscriber, error) {
		return messaging.NewReplicaSubscriber(s.subConn, replica, messaging.SubscriberConfig{Topology: s.Topology, Logger: s.Log, Prefetch: prefetch})
	})
}

// subscriber builds the subscriber of kind once; Close closes it.
func (s *Service) subscriber(kind string, build func() (message.Subscriber, error)) (message.Subscriber, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub, ok := s.subscribers[kind]; ok {
		return sub, nil
	}
	sub, err := build()
	if err != nil {
		return nil, err
	}
	s.subscribers[kind] = sub
	return sub, nil
}

// messagingQueueBacklog exports the depth of every queue the service consumes.
func messagingQueueBacklog(s *Service) {
	messaging.QueueBacklog(s.Metrics, s.pubConn, s.backlog...)
}
