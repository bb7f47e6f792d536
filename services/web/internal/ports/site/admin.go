package site

import (
	"net/http"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/app"
)

// Console is the dead-letter console's data: the page is a shell that the
// script fills from the admin API with the token the operator typed.
type Console struct {
	Services []string
	Modes    []string
}

// deadLettersConsole is GET /admin/dead-letters.
func (s *Site) deadLettersConsole(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "admin_dead_letters", Page{Title: "Dead letters", Body: "admin-dead-letters", Data: Console{
		Services: app.FaultServices,
		Modes:    []string{contracts.FaultTransient, contracts.FaultPermanent, contracts.FaultPanic},
	}})
}

// TracePage is a booking trace page's data.
type TracePage struct {
	BookingID string
}

// tracePage is GET /admin/bookings/{id}/trace: the script fetches the
// waterfall from the admin API with the operator's token and draws it.
func (s *Site) tracePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.cfg.VerifyBookingID(id) {
		s.notFound(w, r)
		return
	}
	s.render(w, r, http.StatusOK, "admin_trace", Page{Title: "Trace of booking " + id, Body: "admin-trace", Data: TracePage{BookingID: id}})
}
