package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
)

// Bookings is the use cases behind the internal HTTP API (app.Bookings).
type Bookings interface {
	Catalogue(ctx context.Context) ([]domain.Hotel, map[string]domain.Hotel, error)
	Availability(ctx context.Context, hotelID, checkIn, checkOut string) (map[string]int, error)
	Booking(ctx context.Context, id string) (domain.Booking, error)
	BookingIDByIdempotencyKey(ctx context.Context, keyHash string) (string, error)
	BookRoomDirect(ctx context.Context, cmd contracts.BookRoom, down app.Downstream, chainTimeout time.Duration) (domain.Booking, bool, error)
}

// HTTP serves the booking service's internal API.
type HTTP struct {
	App        Bookings
	Downstream app.Downstream // direct mode
	Log        *slog.Logger
	// DirectTimeout bounds one direct-mode booking, downstream calls included.
	DirectTimeout time.Duration
}

// Register adds the routes to mux.
func (h *HTTP) Register(mux httpx.Router) {
	mux.HandleFunc("GET /internal/catalogue", h.catalogue)
	mux.HandleFunc("GET /internal/hotels/{id}/availability", h.availability)
	mux.HandleFunc("GET /internal/bookings/{id}", h.booking)
	mux.HandleFunc("GET /internal/idempotency-keys/{hash}", h.idempotencyKey)
	mux.HandleFunc("POST /internal/bookings", h.bookDirect)
}

var (
	uuidPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

type hotelJSON struct {
	domain.Hotel
}

func (h *HTTP) catalogue(w http.ResponseWriter, r *http.Request) {
	list, _, err := h.App.Catalogue(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	hotels := make([]hotelJSON, len(list))
	for i, x := range list {
		hotels[i] = hotelJSON{x}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"hotels": hotels})
}

type availabilityJSON struct {
	ID        string `json:"id"`
	Available int    `json:"available"`
}

func (h *HTTP) availability(w http.ResponseWriter, r *http.Request) {
	hotelID := r.PathValue("id")
	free, err := h.App.Availability(r.Context(), hotelID, r.URL.Query().Get("check_in"), r.URL.Query().Get("check_out"))
	switch {
	case app.IsNotFound(err):
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no hotel "+hotelID)
		return
	case errors.Is(err, app.ErrInvalidStay):
		httpx.WriteRequestError(w, httpx.FieldError("check_in", err.Error()))
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	_, hotels, _ := h.App.Catalogue(r.Context())
	out := []availabilityJSON{}
	for _, rt := range hotels[hotelID].RoomTypes {
		out = append(out, availabilityJSON{ID: rt.ID, Available: free[rt.ID]})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"room_types": out})
}

// BookingJSON is a booking as the internal API shows it.
type BookingJSON struct {
	ID         string          `json:"id"`
	Version    int64           `json:"version"`
	Status     string          `json:"status"`
	Reason     string          `json:"reason"`
	HotelID    string          `json:"hotel_id"`
	RoomType   string          `json:"room_type"`
	CheckIn    string          `json:"check_in"`
	CheckOut   string          `json:"check_out"`
	Guests     int             `json:"guests"`
	GuestName  string          `json:"guest_name"`
	TotalPrice contracts.Money `json:"total_price"`
	Tasks      contracts.Tasks `json:"tasks"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

func bookingJSON(b domain.Booking) BookingJSON {
	return BookingJSON{
		ID: b.ID, Version: b.Version, Status: b.Status, Reason: b.Reason, HotelID: b.HotelID, RoomType: b.RoomType,
		CheckIn: b.CheckIn, CheckOut: b.CheckOut, Guests: b.Guests, GuestName: b.GuestName,
		TotalPrice: b.TotalPrice, Tasks: b.Tasks, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
	}
}

func (h *HTTP) booking(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !uuidPattern.MatchString(id) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no booking "+id)
		return
	}
	b, err := h.App.Booking(r.Context(), id)
	if app.IsNotFound(err) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no booking "+id)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, bookingJSON(b))
}

func (h *HTTP) idempotencyKey(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !sha256Pattern.MatchString(hash) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such key")
		return
	}
	id, err := h.App.BookingIDByIdempotencyKey(r.Context(), hash)
	if app.IsNotFound(err) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such key")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"booking_id": id})
}

func (h *HTTP) bookDirect(w http.ResponseWriter, r *http.Request) {
	var cmd contracts.BookRoom
	if err := httpx.DecodeJSON(w, r, &cmd, 16<<10); err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	if !uuidPattern.MatchString(cmd.BookingID) {
		httpx.WriteRequestError(w, httpx.FieldError("booking_id", "must be a lowercase UUID"))
		return
	}
	ctx := r.Context()
	b, created, err := h.App.BookRoomDirect(ctx, cmd, h.Downstream, h.DirectTimeout)
	if err != nil {
		h.Log.WarnContext(ctx, "direct booking failed", "booking_id", cmd.BookingID, "err", err)
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "booking could not be completed: "+err.Error())
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	httpx.WriteJSON(w, status, bookingJSON(b))
}

func (h *HTTP) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the booking database is unavailable")
}
