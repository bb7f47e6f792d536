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

// EventPublisher announces vouchers on events.VoucherCreated. Publish waits
// for the broker's confirm, so a nil error means the event is stored.
type EventPublisher struct {
	pub Publisher
}

// NewEventPublisher builds an EventPublisher on pub.
func NewEventPublisher(pub Publisher) *EventPublisher {
	if pub == nil {
		panic("adapters: nil publisher")
	}
	return &EventPublisher{pub: pub}
}

// VoucherCreated publishes ev, correlated with its booking.
func (p *EventPublisher) VoucherCreated(ctx context.Context, ev contracts.VoucherCreated) error {
	msg, err := contracts.NewMessage(ctx, ev, ev.BookingID)
	if err != nil {
		return err
	}
	if err := p.pub.Publish(messaging.EventTopic(messaging.EventVoucherCreated), msg); err != nil {
		return fmt.Errorf("publish VoucherCreated %s: %w", ev.BookingID, err)
	}
	return nil
}
