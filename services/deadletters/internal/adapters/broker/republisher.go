// Package broker republishes a dead letter's original message to the queue
// it came from, through RabbitMQ's default exchange.
package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/services/deadletters/internal/domain"
	"github.com/staybook/staybook/shared/messaging"
)

// Config configures a Republisher.
type Config struct {
	// Conn is the publishing connection; the queue's existence is checked on it.
	Conn *amqp.ConnectionWrapper
	// Publisher publishes with broker confirms (messaging.Publisher).
	Publisher message.Publisher
}

// Republisher sends letters back to their queues.
type Republisher struct {
	cfg Config
}

// NewRepublisher returns a Republisher.
func NewRepublisher(cfg Config) *Republisher {
	if cfg.Conn == nil || cfg.Publisher == nil {
		panic("broker: Republisher needs Conn and Publisher")
	}
	return &Republisher{cfg: cfg}
}

// Republish publishes the letter's original message (its UUID, payload and
// replay metadata) to its queue alone, through the default exchange
// (messaging.QueueTopic), never to the event's fanout exchange, which would
// deliver it again to every subscribing service. It returns once the broker
// confirmed it. A queue that does not exist is domain.ErrQueueMissing: the
// default exchange would drop the message without a word.
func (r *Republisher) Republish(ctx context.Context, l domain.Letter) error {
	if err := r.checkQueue(l.Queue); err != nil {
		return err
	}
	msg := message.NewMessage(l.ID, l.Payload)
	msg.Metadata = l.ReplayMetadata()
	msg.SetContext(ctx)
	if err := r.cfg.Publisher.Publish(messaging.QueueTopic(l.Queue), msg); err != nil {
		return fmt.Errorf("republish %s to %s: %w", l.ID, l.Queue, err)
	}
	return nil
}

// checkQueue declares the queue passively on a channel of its own (a
// missing queue closes the channel).
func (r *Republisher) checkQueue(queue string) error {
	if !r.cfg.Conn.IsConnected() {
		return errors.New("not connected to rabbitmq")
	}
	ch, err := r.cfg.Conn.Connection().Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
		var aerr *amqp091.Error
		switch {
		case errors.As(err, &aerr) && aerr.Code == amqp091.NotFound:
			return fmt.Errorf("%w: %s", domain.ErrQueueMissing, queue)
		case errors.As(err, &aerr) && aerr.Code == amqp091.ResourceLocked:
			return nil // another connection's exclusive queue: it exists, and can be published to
		}
		return fmt.Errorf("check queue %s: %w", queue, err)
	}
	return nil
}
