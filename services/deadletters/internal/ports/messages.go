// Package ports adapts the deadletters use cases to the outside: the
// handler of the dead_letters queue, and the admin HTTP API behind its
// bearer token.
package ports

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/domain"
)

// HandlerName is the handler of dead_letters, in logs, metrics and the
// variables of its retry policy (STORE_DEAD_LETTER_MAX_ATTEMPTS, ...).
const HandlerName = "store_dead_letter"

// Messages handles the dead_letters queue.
type Messages struct {
	App *app.Letters
	Log *slog.Logger
	// Stored, if set, is told what storing each delivery did (metrics).
	Stored func(l domain.Letter, outcome domain.Outcome)
}

// StoreDeadLetter stores a dead letter. Nothing about a letter is a
// permanent error (one it cannot parse is stored as it is), so every error
// is retried, and past its attempts the message is left on the queue.
func (m *Messages) StoreDeadLetter(msg *message.Message) error {
	ctx := msg.Context()
	l, outcome, err := m.App.Store(ctx, app.Received{UUID: msg.UUID, Payload: msg.Payload, Metadata: msg.Metadata})
	if err != nil {
		return err
	}
	if m.Stored != nil {
		m.Stored(l, outcome)
	}
	m.Log.InfoContext(ctx, "dead letter stored", "letter_id", l.ID, "outcome", string(outcome),
		"queue", l.Queue, "failed_handler", l.Handler, "attempts", l.Attempts, "reason", l.Reason)
	return nil
}
