// Package ports adapts the deadletters use cases to the outside: the
// handler of the dead_letters queue, and the admin HTTP API behind its
// bearer token.
package ports

import (
	"errors"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/domain"
	"github.com/staybook/staybook/shared/messaging"
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

// Handler is store_dead_letter on the dead_letters queue: raw messages,
// whatever contract they carry, with policy (before the environment's
// STORE_DEAD_LETTER_MAX_ATTEMPTS and the like) and instances consuming at once.
func (m *Messages) Handler(policy messaging.RetryPolicy, instances int) messaging.Handler {
	return messaging.Handler{
		Name: HandlerName, Topic: messaging.DeadLetterQueue,
		Policy: policy, Instances: instances, Handle: m.StoreDeadLetter,
	}
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

// errNoDeadLetterOfDeadLetters is why a letter that could not be stored is
// not dead-lettered again.
var errNoDeadLetterOfDeadLetters = errors.New("a dead letter that could not be stored stays on dead_letters for redelivery")

// RefuseDeadLetters is the router's dead-letter publisher for the
// dead_letters queue itself. Were a letter that failed to be stored
// dead-lettered like any message, it would come back to dead_letters with
// its dl_* metadata overwritten (dl_handler store_dead_letter, dl_queue
// dead_letters): the operator would lose where it came from, and a replay
// would send it here again. Refusing makes the router nack it instead, after
// a pause, so RabbitMQ keeps it and redelivers it: never lost, never altered.
type RefuseDeadLetters struct{}

// Publish refuses.
func (RefuseDeadLetters) Publish(string, ...*message.Message) error {
	return errNoDeadLetterOfDeadLetters
}

// Close does nothing.
func (RefuseDeadLetters) Close() error { return nil }
