package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// HotelSummary is one entry of GET /api/hotels.
type HotelSummary struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	City      string `json:"city"`
	Stars     int    `json:"stars"`
	PriceFrom int64  `json:"price_from"` // the cheapest room type, minor units per night
	Currency  string `json:"currency"`
}

// HotelDetail is GET /api/hotels/{id}.
type HotelDetail struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	City      string            `json:"city"`
	Address   string            `json:"address"`
	Stars     int               `json:"stars"`
	RoomTypes []domain.RoomType `json:"room_types"`
}

// listHotels is GET /api/hotels.
func (a *API) listHotels(w http.ResponseWriter, r *http.Request) {
	cat := a.catalogueOrUnavailable(w, r)
	if cat == nil {
		return
	}
	hotels := make([]HotelSummary, 0, len(cat.Hotels))
	for _, h := range cat.Hotels {
		s := HotelSummary{ID: h.ID, Name: h.Name, City: h.City, Stars: h.Stars}
		for i, rt := range h.RoomTypes {
			if i == 0 || rt.PricePerNight < s.PriceFrom {
				s.PriceFrom, s.Currency = rt.PricePerNight, rt.Currency
			}
		}
		hotels = append(hotels, s)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"hotels": hotels})
}

// getHotel is GET /api/hotels/{id}.
func (a *API) getHotel(w http.ResponseWriter, r *http.Request) {
	cat := a.catalogueOrUnavailable(w, r)
	if cat == nil {
		return
	}
	h, ok := cat.Hotel(r.PathValue("id"))
	if !ok {
		notFound(w, "hotel")
		return
	}
	rts := h.RoomTypes
	if rts == nil {
		rts = []domain.RoomType{}
	}
	httpx.WriteJSON(w, http.StatusOK, HotelDetail{ID: h.ID, Name: h.Name, City: h.City, Address: h.Address, Stars: h.Stars, RoomTypes: rts})
}

// availability is GET /api/hotels/{id}/availability?check_in&check_out,
// validated here and answered by the booking service (it is live data, not
// cached).
func (a *API) availability(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	in, out, err := app.ValidateStay(q.Get("check_in"), q.Get("check_out"), a.cfg.Bookings.Now())
	if err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	// An unknown hotel is a 404 without asking booking; without a catalogue
	// the booking service decides.
	if cat, err := a.cfg.Bookings.Catalogue(r.Context()); err == nil {
		if _, ok := cat.Hotel(id); !ok {
			notFound(w, "hotel")
			return
		}
	}
	av, err := a.cfg.Bookings.Availability(r.Context(), id, in.Format(time.DateOnly), out.Format(time.DateOnly))
	var se *app.StatusError
	switch {
	case errors.Is(err, app.ErrBookingNotFound):
		notFound(w, "hotel")
		return
	case errors.As(err, &se):
		httpx.WriteJSON(w, se.Status, se.Body)
		return
	case err != nil:
		a.log.WarnContext(r.Context(), "availability not available", "hotel_id", id, "err", err)
		a.unavailable(w, app.CodeBookingUnavailable, "availability cannot be checked right now; retry later")
		return
	}
	rts := av.RoomTypes
	if rts == nil {
		rts = []domain.RoomAvailability{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"room_types": rts})
}
