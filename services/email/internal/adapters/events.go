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

// EventPublisher publishes the email service's events to their fanout exchanges.
type EventPublisher struct {
	pub Publisher
}

// NewEventPublisher publishes through pub (a confirming messaging.Publisher).
func NewEventPublisher(pub Publisher) *EventPublisher {
	if pub == nil {
		panic("adapters: nil publisher")
	}
	return &EventPublisher{pub: pub}
}

// PublishEmailSent publishes ConfirmationEmailSent to events.ConfirmationEmailSent
// and waits for the broker's confirm.
func (p *EventPublisher) PublishEmailSent(ctx context.Context, event contracts.ConfirmationEmailSent) error {
	msg, err := contracts.NewMessage(ctx, event, event.BookingID)
	if err != nil {
		return err
	}
	topic := messaging.EventTopic(messaging.EventConfirmationEmailSent)
	if err := p.pub.Publish(topic, msg); err != nil {
		return fmt.Errorf("publish %s: %w", event.SchemaName(), err)
	}
	return nil
}
