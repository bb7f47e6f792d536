// Package adapters holds the web tier's small adapters; its clients of other
// services are in adapters/<remote>client.
package adapters

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

// ControlPublisher puts fault changes on the control fanout (app.Control):
// every replica of every service gets them.
type ControlPublisher struct {
	// Publisher publishes and waits for the broker's confirm.
	Publisher message.Publisher
}

// Broadcast publishes f on the control fanout.
func (c ControlPublisher) Broadcast(ctx context.Context, f contracts.FaultChanged) error {
	msg, err := contracts.NewMessage(ctx, f, "")
	if err != nil {
		return fmt.Errorf("build FaultChanged: %w", err)
	}
	return c.Publisher.Publish(messaging.ControlExchange, msg)
}
