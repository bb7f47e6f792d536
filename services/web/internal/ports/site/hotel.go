package site

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// BookingForm is the booking form as typed, with what is wrong with it.
type BookingForm struct {
	HotelID    string
	RoomType   string
	CheckIn    string
	CheckOut   string
	Guests     string
	GuestName  string
	GuestEmail string
	// Key is the idempotency key, made when the form is rendered: sending
	// the form twice (a double click, a retry after an error) books once.
	Key string
	// Errors are messages by field; Error is about the whole form.
	Errors map[string]string
	Error  string
}

// RoomOffer is one room type on a hotel page.
type RoomOffer struct {
	domain.RoomType
	// Available, when the page has dates: rooms free on every night.
	Available *int
	// Total is the price of the stay when the page has dates.
	Total int64
}

// HotelPage is a hotel page's data.
type HotelPage struct {
	Hotel   domain.Hotel
	Rooms   []RoomOffer
	Nights  int
	Dated   bool
	Unknown bool // availability could not be checked
	Form    BookingForm
	MinDate string
}

// hotel is GET /hotels/{id}: room types, prices, availability for the
// dates in the query, and the booking form.
func (s *Site) hotel(w http.ResponseWriter, r *http.Request) {
	cat := s.catalogueOrError(w, r)
	if cat == nil {
		return
	}
	h, ok := cat.Hotel(r.PathValue("id"))
	if !ok {
		s.notFound(w, r)
		return
	}
	q := r.URL.Query()
	form := BookingForm{
		HotelID: h.ID, RoomType: q.Get("room_type"), CheckIn: q.Get("check_in"), CheckOut: q.Get("check_out"),
		Guests: q.Get("guests"), Key: newKey(), Errors: map[string]string{},
	}
	if form.Guests == "" {
		form.Guests = "1"
	}
	s.renderHotel(w, r, http.StatusOK, h, form)
}

// renderHotel renders a hotel page with the form as given.
func (s *Site) renderHotel(w http.ResponseWriter, r *http.Request, status int, h *domain.Hotel, form BookingForm) {
	page := HotelPage{Hotel: *h, Form: form, MinDate: s.today()}
	if form.RoomType == "" && len(h.RoomTypes) > 0 {
		// The first room type that sleeps the party.
		page.Form.RoomType = h.RoomTypes[0].ID
		guests, _ := strconv.Atoi(form.Guests)
		for _, rt := range h.RoomTypes {
			if rt.Capacity >= guests {
				page.Form.RoomType = rt.ID
				break
			}
		}
	}
	in, out, err := app.ValidateStay(form.CheckIn, form.CheckOut, s.cfg.Now())
	var av *domain.Availability
	if err == nil {
		page.Dated = true
		page.Nights = int(out.Sub(in).Hours() / 24)
		if av, err = s.cfg.Bookings.Availability(r.Context(), h.ID, form.CheckIn, form.CheckOut); err != nil {
			s.log.WarnContext(r.Context(), "availability unknown", "hotel_id", h.ID, "err", err)
			page.Unknown = true
		}
	}
	for _, rt := range h.RoomTypes {
		ro := RoomOffer{RoomType: rt}
		if page.Dated {
			ro.Total = rt.PricePerNight * int64(page.Nights)
		}
		if av != nil {
			n := 0
			for _, ra := range av.RoomTypes {
				if ra.ID == rt.ID {
					n = ra.Available
				}
			}
			ro.Available = &n
		}
		page.Rooms = append(page.Rooms, ro)
	}
	s.render(w, r, status, "hotel", Page{Title: h.Name, Body: "hotel", Data: page})
}

// createBooking is POST /bookings, the booking form: the same validation
// as POST /api/bookings, every bad field shown next to it with what the
// customer typed; on success a redirect to the booking's page (303, so that
// reloading it does not post again).
func (s *Site) createBooking(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, ErrorPage{Status: http.StatusBadRequest, Heading: "The form could not be read",
			Message: "Go back to the hotel page and send the form again."})
		return
	}
	form := BookingForm{
		HotelID: r.PostForm.Get("hotel_id"), RoomType: r.PostForm.Get("room_type"),
		CheckIn: r.PostForm.Get("check_in"), CheckOut: r.PostForm.Get("check_out"),
		Guests: strings.TrimSpace(r.PostForm.Get("guests")), GuestName: r.PostForm.Get("guest_name"),
		GuestEmail: r.PostForm.Get("guest_email"), Key: r.PostForm.Get("idempotency_key"), Errors: map[string]string{},
	}
	cat := s.catalogueOrError(w, r)
	if cat == nil {
		return
	}
	h, ok := cat.Hotel(form.HotelID)
	if !ok {
		s.errorPage(w, r, ErrorPage{Status: http.StatusUnprocessableEntity, Heading: "Hotel not found",
			Message: "We do not offer this hotel (any more). Choose another one from the list."})
		return
	}
	if app.ValidateIdempotencyKey(form.Key) != nil {
		// A form that lost its key (or never had one) still books, once
		// per new key; the customer's next attempt is then idempotent.
		form.Key = newKey()
	}
	req := s.checkForm(&form, cat)
	if len(form.Errors) > 0 {
		s.renderHotel(w, r, http.StatusUnprocessableEntity, h, form)
		return
	}
	placed, err := s.cfg.Placer.Place(r.Context(), req, form.Key)
	s.answerPlaced(w, r, h, form, placed, err)
}

// checkForm is the booking request of the form, with a message in
// form.Errors for each bad field (the JSON API's validation, in words).
func (s *Site) checkForm(form *BookingForm, cat *domain.Catalogue) app.BookingRequest {
	req := app.BookingRequest{
		HotelID: form.HotelID, RoomType: form.RoomType, CheckIn: form.CheckIn, CheckOut: form.CheckOut,
		GuestName: form.GuestName, GuestEmail: form.GuestEmail,
	}
	guests, err := strconv.Atoi(form.Guests)
	if err != nil {
		form.Errors["guests"] = "Guests must be a whole number"
	} else {
		req.Guests = guests
	}
	for _, p := range app.Problems(req, s.cfg.Now(), cat) {
		if form.Errors[p.Field] == "" {
			form.Errors[p.Field] = humanise(p.Message)
		}
	}
	return req
}

// answerPlaced answers the form once the booking was placed (a redirect to
// its page) or refused (the form again, saying why).
func (s *Site) answerPlaced(w http.ResponseWriter, r *http.Request, h *domain.Hotel, form BookingForm, placed app.Placed, err error) {
	var (
		re *httpx.RequestError
		se *app.StatusError
		ue *app.UnavailableError
	)
	switch {
	case errors.As(err, &re) && re.Code == app.CodeIdempotencyKeyReused:
		// The page was reused (back button) for a different booking: this
		// form gets a fresh key, the customer sends it again.
		form.Key = newKey()
		form.Error = "This form was already used for another booking. Check the details and send it again to make a new booking."
		s.renderHotel(w, r, http.StatusUnprocessableEntity, h, form)
	case errors.As(err, &re):
		if _, shown := fieldNames[re.Field]; shown || re.Field == "guests" {
			form.Errors[re.Field] = humanise(re.Message)
		} else {
			form.Error = humanise(re.Message)
		}
		s.renderHotel(w, r, re.Status, h, form)
	case errors.As(err, &se):
		form.Error = "The hotel could not take this booking: " + se.Body.Error.Message
		s.renderHotel(w, r, se.Status, h, form)
	case errors.As(err, &ue):
		// The same key is kept: sending the form again is safe even if
		// this attempt did reach the queue.
		w.Header().Set("Retry-After", s.retryAfter)
		form.Error = "We could not take your booking just now. Nothing was charged: please send the form again in a few seconds."
		s.renderHotel(w, r, http.StatusServiceUnavailable, h, form)
	case err != nil:
		s.log.ErrorContext(r.Context(), "booking form", "err", err)
		s.errorPage(w, r, ErrorPage{Status: http.StatusInternalServerError, Heading: "Something went wrong",
			Message: "We could not take your booking. Please try again."})
	default:
		http.Redirect(w, r, "/bookings/"+placed.ID, http.StatusSeeOther)
	}
}

// newKey is a fresh idempotency key for a rendered booking form.
func newKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "form-" + hex.EncodeToString(b)
}
