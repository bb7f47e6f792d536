// Package ports is how the world reaches the web tier's use cases: the relay
// of booking status changes from the broker here; the public JSON API
// (ports/api), the HTML pages (ports/site), the admin API (ports/admin) and
// the OpenAPI document (ports/apidoc) in their own packages, and the public
// listener's rate limit (ports/ratelimit).
package ports

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/app"
)

// RelayConfig configures the relay handler.
type RelayConfig struct {
	Hub *app.Hub
	// Keys learn the Idempotency-Key each new booking took; may be nil.
	Keys   *app.TakenKeys
	Logger *slog.Logger
	// Malformed is called for each message that is not a BookingStatusChanged (a metric); may be nil.
	Malformed func()
}

// RelayHandler returns the message handler ("relay_status") that passes each
// BookingStatusChanged from the notifications fanout to the hub, and the
// Idempotency-Key a new booking took to Keys.
//
// A message it cannot decode is logged and dropped rather than
// dead-lettered: every web replica would dead-letter its own copy, and a
// replay could not reach the replica's queue, which is gone when the replica
// is. The browser loses nothing lasting: it reads the state again on
// reconnect and the next change carries the whole state.
func RelayHandler(cfg RelayConfig) func(msg *message.Message) error {
	if cfg.Hub == nil {
		panic("ports: nil Hub")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(msg *message.Message) error {
		ev, err := contracts.Decode[contracts.BookingStatusChanged](msg)
		if err != nil {
			cfg.Logger.WarnContext(msg.Context(), "notification dropped: not a BookingStatusChanged", "err", err)
			if cfg.Malformed != nil {
				cfg.Malformed()
			}
			return nil
		}
		if cfg.Keys != nil {
			cfg.Keys.Bind(ev.IdempotencyKeyHash, ev.BookingID)
		}
		n := cfg.Hub.Publish(ev)
		cfg.Logger.DebugContext(msg.Context(), "booking status relayed", "version", ev.Version, "status", ev.Status, "streams", n)
		return nil
	}
}
