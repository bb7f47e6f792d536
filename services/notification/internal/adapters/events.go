package adapters

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

// Publisher is what EventPublisher needs of messaging.Publisher.
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
}

// EventPublisher publishes this service's events through the shared
// confirming publisher (app.Events).
type EventPublisher struct{ pub Publisher }

// NewEventPublisher wraps pub.
func NewEventPublisher(pub Publisher) *EventPublisher {
	if pub == nil {
		panic("adapters: nil publisher")
	}
	return &EventPublisher{pub: pub}
}

// CustomerNotified publishes e to events.CustomerNotified.
func (p *EventPublisher) CustomerNotified(ctx context.Context, e contracts.CustomerNotified) error {
	return p.publish(ctx, messaging.EventCustomerNotified, e, e.BookingID)
}

// TaskFailed publishes e to events.TaskFailed.
func (p *EventPublisher) TaskFailed(ctx context.Context, e contracts.TaskFailed) error {
	return p.publish(ctx, messaging.EventTaskFailed, e, e.BookingID)
}

func (p *EventPublisher) publish(ctx context.Context, event string, payload contracts.Contract, bookingID string) error {
	msg, err := contracts.NewMessage(ctx, payload, bookingID)
	if err != nil {
		return err
	}
	if err := p.pub.Publish(messaging.EventTopic(event), msg); err != nil {
		return fmt.Errorf("publish %s for %s: %w", event, bookingID, err)
	}
	return nil
}
