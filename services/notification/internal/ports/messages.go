// Package ports is how the outside reaches the notification use case: the
// event handlers on the broker, and the HTTP API (direct mode, topics).
package ports

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/domain"
)

// ServiceName is the suffix of this service's subscription queues
// (events.BookingConfirmed_notification, ...).
const ServiceName = "notification"

// Handler names: in logs, metrics, dead letters (dl_handler) and the
// variables that tune them (NOTIFY_BOOKING_CONFIRMED_MAX_ATTEMPTS, ...).
const (
	HandlerBookingConfirmed = "notify_booking_confirmed"
	HandlerBookingRejected  = "notify_booking_rejected"
	HandlerEmailSent        = "notify_email_sent"
)

// HandlerNames lists every handler of this service.
var HandlerNames = []string{HandlerBookingConfirmed, HandlerBookingRejected, HandlerEmailSent}

// Notifier is the use case the handlers call.
type Notifier interface {
	NotifyAndAnnounce(ctx context.Context, n domain.Notification) (contracts.CustomerNotified, error)
	ReportGivenUp(ctx context.Context, n domain.Notification, cause error) error
}

// EventHandlers returns the handlers of the three events, each notifying
// and announcing, and recording its outcome for ReportDiscards. policy
// gives each handler's retry policy by name: a handler that discards its
// messages after their attempts reports the given-up task.
func EventHandlers(app Notifier, policy func(handler string) messaging.RetryPolicy) []cqrs.EventHandler {
	if app == nil {
		panic("ports: EventHandlers needs a Notifier")
	}
	discards := func(name string) bool { return policy(name).OnExhausted == messaging.ExhaustedDiscard }
	return []cqrs.EventHandler{
		eventHandler(HandlerBookingConfirmed, app, discards(HandlerBookingConfirmed), domain.BookingConfirmed),
		eventHandler(HandlerBookingRejected, app, discards(HandlerBookingRejected), domain.BookingRejected),
		eventHandler(HandlerEmailSent, app, discards(HandlerEmailSent), domain.ConfirmationEmailSent),
	}
}

func eventHandler[T any](name string, app Notifier, discards bool, build func(T) domain.Notification) cqrs.EventHandler {
	return cqrs.NewEventHandler(name, func(ctx context.Context, ev *T) (err error) {
		n := build(*ev)
		var report func(context.Context, error) error
		if discards {
			report = func(ctx context.Context, cause error) error { return app.ReportGivenUp(ctx, n, cause) }
		}
		if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
			defer func() {
				if v := recover(); v != nil {
					o.record(fmt.Errorf("panic: %v", v), report)
					panic(v) // the router's recoverer turns it into an error
				}
				o.record(err, report)
			}()
		}
		_, err = app.NotifyAndAnnounce(ctx, n)
		return err
	})
}

// outcome is one delivery's last attempt, shared between a handler (inside
// the router's retries) and ReportDiscards (outside them).
type outcome struct {
	mu     sync.Mutex
	err    error
	report func(context.Context, error) error
}

type outcomeKey struct{}

func (o *outcome) record(err error, report func(context.Context, error) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.err, o.report = err, report
}

func (o *outcome) last() (report func(context.Context, error) error, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.report, o.err
}

// ReportDiscards is router middleware (servicekit.Options.RouterMiddleware,
// outside the dead-letter and retry middleware) that reports a discarded
// notification.
//
// The router's Discarded hook is told only the handler's name, not the
// message, so it cannot say which booking's notification task failed. This
// middleware puts a record in the message's context that survives the
// router's retries (they reset the context to the one they were given); the
// handler writes each attempt's outcome there. When the router's chain
// returns without error although the last attempt failed with a transient
// error under a discard policy, the router has discarded the message (a
// permanent error would have been dead-lettered, and at shutdown the error is
// returned so the message is redelivered): then the handler's report runs,
// which publishes TaskFailed. If that publish fails, the message is nacked
// and redelivered rather than lost with its report.
func ReportDiscards(log *slog.Logger) message.HandlerMiddleware {
	return func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			o := &outcome{}
			msg.SetContext(context.WithValue(msg.Context(), outcomeKey{}, o))
			out, err := next(msg)
			if err != nil {
				return out, err
			}
			report, cause := o.last()
			if cause == nil || report == nil || messaging.IsPermanent(cause) {
				return out, nil
			}
			// The handler's context ended with its last attempt; keep its values (log attributes, trace).
			ctx := context.WithoutCancel(msg.Context())
			if rerr := report(ctx, cause); rerr != nil {
				log.ErrorContext(ctx, "discarded notification could not be reported; message left for redelivery", "err", rerr)
				return out, rerr
			}
			return out, nil
		}
	}
}
