package site

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// noscriptRefresh is how often a booking page that is still changing
// reloads itself when JavaScript is off.
const noscriptRefresh = 3

// Task is one background task on the booking page.
type Task struct {
	Key   string // voucher, email, notification
	Name  string
	State string
}

// BookingPage is the booking page's data.
type BookingPage struct {
	ID     string
	Status string
	Reason string
	// Booking is the booking as stored; nil while its command waits in
	// the queue (the details appear once the booking service has it).
	Booking   *domain.Booking
	HotelName string
	RoomName  string
	Nights    int
	Tasks     []Task
	// EmailState is the confirmation email's task state.
	EmailState string
	// VoucherURL is set once the voucher exists.
	VoucherURL string
	// Final: nothing will change any more (no live updates needed).
	Final bool
	// Labels is the wording of statuses, task states and reasons, for the
	// script that applies live updates.
	Labels string
	// EventsURL is the booking's Server-Sent Events stream.
	EventsURL string
	// TraceURL is the booking's trace in Jaeger's UI (empty: no link).
	TraceURL string
}

// StatusLabel is the status as the customer reads it.
func (p BookingPage) StatusLabel() string { return statusLabels[p.Status] }

// ReasonLabel explains a rejection.
func (p BookingPage) ReasonLabel() string {
	if p.Reason == "" {
		return ""
	}
	if l, ok := reasonLabels[p.Reason]; ok {
		return l
	}
	return "Sorry: the booking could not be made (" + p.Reason + ")."
}

// labelsJSON is the wording the script uses, as JSON.
var labelsJSON = func() string {
	b, err := json.Marshal(map[string]map[string]string{"status": statusLabels, "task": taskLabels, "reason": reasonLabels})
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// bookingPage is GET /bookings/{id}: the booking's status and each
// background task's progress, updated live by the script.
func (s *Site) bookingPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !s.cfg.VerifyBookingID(id) {
		s.notFound(w, r)
		return
	}
	page := BookingPage{ID: id, EventsURL: "/api/bookings/" + id + "/events", Labels: labelsJSON}
	b, err := s.cfg.Bookings.Booking(ctx, id)
	switch {
	case isNotFound(err):
		// Issued by us and not stored yet: its command waits in the queue.
		p := contracts.TaskPending
		b = nil
		page.Status = contracts.StatusPending
		page.Tasks = tasks(contracts.Tasks{Voucher: p, Email: p, Notification: p})
	case err != nil:
		s.log.WarnContext(ctx, "booking page: booking service unavailable", "booking_id", id, "err", err)
		s.unavailable(w, r, "Your booking's status")
		return
	default:
		s.describeBooking(ctx, &page, b)
	}
	if s.cfg.TraceURL != nil {
		from, to := s.cfg.Now().Add(-time.Hour), s.cfg.Now()
		if b != nil {
			from, to = b.CreatedAt, b.UpdatedAt
		}
		page.TraceURL = s.cfg.TraceURL(id, from, to)
	}
	page.EmailState = page.Tasks[1].State
	page.Final = page.Status != contracts.StatusPending
	for _, t := range page.Tasks {
		if t.State == contracts.TaskPending {
			page.Final = false
		}
	}
	refresh := noscriptRefresh
	if page.Final {
		refresh = 0
	}
	s.render(w, r, http.StatusOK, "booking", Page{Title: "Your booking", Body: "booking", Refresh: refresh, Data: page})
}

// describeBooking fills the page with the stored booking: its state, its
// tasks, its nights and the names of its hotel and room.
func (s *Site) describeBooking(ctx context.Context, page *BookingPage, b *domain.Booking) {
	page.Booking = b
	page.Status, page.Reason = b.Status, b.Reason
	page.Tasks = tasks(b.Tasks)
	if b.Tasks.Voucher == contracts.TaskDone {
		page.VoucherURL = "/api/bookings/" + page.ID + "/voucher.pdf"
	}
	if t1, err1 := time.Parse(time.DateOnly, b.CheckOut); err1 == nil {
		if t0, err0 := time.Parse(time.DateOnly, b.CheckIn); err0 == nil {
			page.Nights = int(t1.Sub(t0).Hours() / 24)
		}
	}
	page.HotelName, page.RoomName = b.HotelID, b.RoomType
	if cat, err := s.cfg.Catalogue.Get(ctx); err == nil {
		if h, ok := cat.Hotel(b.HotelID); ok {
			page.HotelName = h.Name
			if rt, ok := h.RoomType(b.RoomType); ok {
				page.RoomName = rt.Name
			}
		}
	}
}

func tasks(t contracts.Tasks) []Task {
	return []Task{
		{Key: contracts.TaskVoucher, Name: "Voucher (PDF)", State: t.Voucher},
		{Key: contracts.TaskEmail, Name: "Confirmation email", State: t.Email},
		{Key: contracts.TaskNotification, Name: "Notification", State: t.Notification},
	}
}
