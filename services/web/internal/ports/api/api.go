// Package api is the web tier's public JSON API: bookings (validated here,
// then queued for the booking service or, in direct mode, booked over HTTP),
// their status and live stream, vouchers, and the hotel catalogue.
//
// The handlers hold no booking rule: they translate HTTP to the use cases
// (app.Bookings) and back, as the HTML pages (ports/site) do beside them.
package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
)

// Config configures the API.
type Config struct {
	// Bookings are the use cases the handlers call.
	Bookings *app.Bookings
	// Hub passes status changes to the event streams of this replica.
	Hub *app.Hub
	// RetryAfter is the Retry-After of a 202 (a polling hint) and of a 503.
	RetryAfter time.Duration
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// Heartbeat is how often an idle event stream gets a comment line, so
	// that proxies and browsers keep it open.
	Heartbeat time.Duration
	// Streams bounds the event streams per client (told by ClientAddress)
	// and per replica; StreamLifetime ends each stream after about that
	// long, with a reconnect hint, so that no stream holds a replica
	// forever and reconnects spread over the replicas.
	Streams        *app.Streams
	ClientAddress  func(*http.Request) (netip.Addr, bool)
	StreamLifetime time.Duration
	Logger         *slog.Logger
}

// API serves the public JSON endpoints.
type API struct {
	cfg        Config
	log        *slog.Logger
	retryAfter string
}

// New builds the API.
func New(cfg Config) (*API, error) {
	if cfg.Bookings == nil || cfg.Hub == nil || cfg.Streams == nil || cfg.ClientAddress == nil {
		panic("api: missing dependency")
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.StreamLifetime <= 0 {
		cfg.StreamLifetime = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	secs := int((cfg.RetryAfter + time.Second - 1) / time.Second)
	return &API{cfg: cfg, log: cfg.Logger, retryAfter: strconv.Itoa(secs)}, nil
}

// Register adds the API's routes to mux. The HTML pages and the admin API
// are registered beside them by their own packages.
func (a *API) Register(mux httpx.Router) {
	mux.HandleFunc("GET /api/hotels", a.listHotels)
	mux.HandleFunc("GET /api/hotels/{id}", a.getHotel)
	mux.HandleFunc("GET /api/hotels/{id}/availability", a.availability)
	mux.HandleFunc("POST /api/bookings", a.createBooking)
	mux.HandleFunc("GET /api/bookings/{id}", a.getBooking)
	mux.HandleFunc("GET /api/bookings/{id}/events", a.bookingEvents)
	mux.HandleFunc("GET /api/bookings/{id}/voucher.pdf", a.voucher)
}

// unavailable answers 503 with Retry-After.
func (a *API) unavailable(w http.ResponseWriter, code, message string) {
	w.Header().Set("Retry-After", a.retryAfter)
	writeError(w, http.StatusServiceUnavailable, code, message)
}
