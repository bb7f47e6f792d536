// Package ports adapts the booking use cases to the outside: the cqrs
// handlers of the BookRoom command and the task events, and the internal
// HTTP API (docs/internal-api.md).
package ports

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// Handler names: in logs, metrics, dead letters (dl_handler) and the
// variables that tune them (BOOK_ROOM_MAX_ATTEMPTS, ...).
const (
	HandlerBookRoom         = "book_room"
	HandlerVoucherCreated   = "record_voucher_created"
	HandlerEmailSent        = "record_email_sent"
	HandlerCustomerNotified = "record_customer_notified"
	HandlerTaskFailed       = "record_task_failed"
)

// Booker is the use cases behind the message handlers (app.Bookings).
type Booker interface {
	BookRoom(ctx context.Context, cmd contracts.BookRoom) (domain.Booking, bool, error)
	RecordTask(ctx context.Context, bookingID, task, state string) (domain.Booking, bool, error)
}

// Messages handles the booking service's queues. The cqrs processor decodes
// each message (an undecodable one is dead-lettered at once); each handler
// calls a use case and returns its error, which the router's middleware
// retries.
type Messages struct {
	App Booker
	Log *slog.Logger
	// Settled, if set, is told the outcome of every BookRoom handled, once
	// its transaction committed (created false for a duplicate).
	Settled func(status, reason string, created bool)
}

// BookRoomHandler settles BookRoom commands.
func (m *Messages) BookRoomHandler() cqrs.CommandHandler {
	return cqrs.NewCommandHandler(HandlerBookRoom, m.bookRoom)
}

func (m *Messages) bookRoom(ctx context.Context, cmd *contracts.BookRoom) error {
	b, created, err := m.App.BookRoom(ctx, *cmd)
	if err != nil {
		return err
	}
	if m.Settled != nil {
		m.Settled(b.Status, b.Reason, created)
	}
	m.Log.DebugContext(ctx, "booking settled", "status", b.Status, "reason", b.Reason, "duplicate", !created)
	return nil
}

// TaskHandlers returns the handlers of the four task events: the voucher
// created, the email sent and the customer notified mark their task done;
// TaskFailed marks its task failed, unless it is done already.
func (m *Messages) TaskHandlers() []cqrs.EventHandler {
	return []cqrs.EventHandler{
		taskHandler(m, HandlerVoucherCreated, func(ev *contracts.VoucherCreated) (string, string, string) {
			return ev.BookingID, contracts.TaskVoucher, contracts.TaskDone
		}),
		taskHandler(m, HandlerEmailSent, func(ev *contracts.ConfirmationEmailSent) (string, string, string) {
			return ev.BookingID, contracts.TaskEmail, contracts.TaskDone
		}),
		taskHandler(m, HandlerCustomerNotified, func(ev *contracts.CustomerNotified) (string, string, string) {
			return ev.BookingID, contracts.TaskNotification, contracts.TaskDone
		}),
		taskHandler(m, HandlerTaskFailed, func(ev *contracts.TaskFailed) (string, string, string) {
			return ev.BookingID, ev.Task, contracts.TaskFailedState
		}),
	}
}

// taskHandler handles event T by recording the task change change reads
// from it: the booking, the task and its new state.
func taskHandler[T any](m *Messages, name string, change func(*T) (bookingID, task, state string)) cqrs.EventHandler {
	return cqrs.NewEventHandler(name, func(ctx context.Context, ev *T) error {
		bookingID, task, state := change(ev)
		return m.record(ctx, bookingID, task, state)
	})
}

// record applies a task change. A booking not stored yet (an event overtook
// the booking's own commit) is a transient error: retried, it succeeds.
func (m *Messages) record(ctx context.Context, bookingID, task, state string) error {
	b, changed, err := m.App.RecordTask(ctx, bookingID, task, state)
	if err != nil {
		return err
	}
	m.Log.DebugContext(ctx, "task recorded", "task", task, "state", state, "changed", changed, "version", b.Version)
	return nil
}
