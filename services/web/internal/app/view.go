package app

import (
	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// BookingView is a booking as the public API shows it (GET /api/bookings/{id}
// and each event of its stream).
type BookingView struct {
	ID         string          `json:"id"`
	Version    int64           `json:"version"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason"`
	Tasks      contracts.Tasks `json:"tasks"`
	VoucherURL string          `json:"voucher_url"`
	// TraceID is the trace of the request that made the booking, in answers
	// to POST /api/bookings only (a status read is a trace of its own; the
	// traceparent header names it).
	TraceID string `json:"trace_id,omitempty"`
}

// Accepted is the answer to a queued booking.
type Accepted struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	StatusURL string `json:"status_url"`
	// TraceID is the booking's trace: open it in Jaeger at
	// <JAEGER_UI_URL>/trace/<trace_id>.
	TraceID string `json:"trace_id"`
}

// StatusURL is where a booking's status is read.
func StatusURL(id string) string  { return "/api/bookings/" + id }
func voucherURL(id string) string { return "/api/bookings/" + id + "/voucher.pdf" }

func newView(id string, version int64, status, reason string, tasks contracts.Tasks) BookingView {
	v := BookingView{ID: id, Version: version, Status: status, Reason: reason, Tasks: tasks}
	if tasks.Voucher == contracts.TaskDone {
		v.VoucherURL = voucherURL(id)
	}
	return v
}

// ViewOfBooking is the view of a booking as the booking service has it.
func ViewOfBooking(b *domain.Booking) BookingView {
	return newView(b.ID, b.Version, b.Status, b.Reason, b.Tasks)
}

// ViewOfEvent is the view a status change carries to the event streams.
func ViewOfEvent(ev contracts.BookingStatusChanged) BookingView {
	return newView(ev.BookingID, ev.Version, ev.Status, ev.Reason, ev.Tasks)
}

// pendingView is an issued booking the booking service has not stored yet:
// its command waits in the queue.
func pendingView(id string) BookingView {
	p := contracts.TaskPending
	return newView(id, 0, contracts.StatusPending, "", contracts.Tasks{Voucher: p, Email: p, Notification: p})
}
