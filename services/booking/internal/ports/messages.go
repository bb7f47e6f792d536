// Package ports adapts the booking use cases to the outside: message
// handlers for the BookRoom command and the task events, and the internal
// HTTP API (docs/internal-api.md).
package ports

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// Booker is the use cases behind the message handlers (app.Bookings).
type Booker interface {
	BookRoom(ctx context.Context, cmd contracts.BookRoom) (domain.Booking, bool, error)
	RecordTask(ctx context.Context, bookingID, task, state string) (domain.Booking, bool, error)
}

// Messages handles the booking service's queues. Each handler decodes,
// calls a use case and returns its error: the router's middleware retries a
// transient error and dead-letters a permanent one (an undecodable message).
type Messages struct {
	App Booker
	Log *slog.Logger
	// Settled, if set, is told the outcome of every BookRoom handled (metrics).
	Settled func(status, reason string, created bool)
}

// BookRoom settles a BookRoom command.
func (m *Messages) BookRoom(msg *message.Message) error {
	cmd, err := contracts.Decode[contracts.BookRoom](msg)
	if err != nil {
		return err
	}
	b, created, err := m.App.BookRoom(msg.Context(), cmd)
	if err != nil {
		return err
	}
	if m.Settled != nil {
		m.Settled(b.Status, b.Reason, created)
	}
	m.Log.DebugContext(msg.Context(), "booking settled", "status", b.Status, "reason", b.Reason, "duplicate", !created)
	return nil
}

// VoucherCreated marks the voucher task done.
func (m *Messages) VoucherCreated(msg *message.Message) error {
	ev, err := contracts.Decode[contracts.VoucherCreated](msg)
	if err != nil {
		return err
	}
	return m.record(msg, ev.BookingID, contracts.TaskVoucher, contracts.TaskDone)
}

// ConfirmationEmailSent marks the email task done.
func (m *Messages) ConfirmationEmailSent(msg *message.Message) error {
	ev, err := contracts.Decode[contracts.ConfirmationEmailSent](msg)
	if err != nil {
		return err
	}
	return m.record(msg, ev.BookingID, contracts.TaskEmail, contracts.TaskDone)
}

// CustomerNotified marks the notification task done (on the first one).
func (m *Messages) CustomerNotified(msg *message.Message) error {
	ev, err := contracts.Decode[contracts.CustomerNotified](msg)
	if err != nil {
		return err
	}
	return m.record(msg, ev.BookingID, contracts.TaskNotification, contracts.TaskDone)
}

// TaskFailed marks a task failed, unless it is done already.
func (m *Messages) TaskFailed(msg *message.Message) error {
	ev, err := contracts.Decode[contracts.TaskFailed](msg)
	if err != nil {
		return err
	}
	return m.record(msg, ev.BookingID, ev.Task, contracts.TaskFailedState)
}

// record applies a task change. A booking not stored yet (an event overtook
// the booking's own commit) is a transient error: retried, it succeeds.
func (m *Messages) record(msg *message.Message, bookingID, task, state string) error {
	b, changed, err := m.App.RecordTask(msg.Context(), bookingID, task, state)
	if err != nil {
		return err
	}
	m.Log.DebugContext(msg.Context(), "task recorded", "task", task, "state", state, "changed", changed, "version", b.Version)
	return nil
}
