// Package api is the web tier's public JSON API: bookings (validated here,
// then queued for the booking service or, in direct mode, booked over HTTP),
// their status and live stream, vouchers, and the hotel catalogue.
//
// The handlers hold no booking rule beyond input validation; they translate
// HTTP to the booking service's command and queries and back.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/booking"
	"github.com/staybook/staybook/services/web/internal/bookingid"
	"github.com/staybook/staybook/services/web/internal/catalogue"
	"github.com/staybook/staybook/services/web/internal/live"
	"github.com/staybook/staybook/services/web/internal/voucher"
)

// How bookings reach the booking service (BOOKING_TRANSPORT).
const (
	TransportQueue  = "queue"  // a BookRoom command on commands.BookRoom; 202
	TransportDirect = "direct" // POST /internal/bookings in the request; 201
)

// BookingService is the booking service's internal API (booking.Client).
type BookingService interface {
	Booking(ctx context.Context, id string) (*booking.Booking, error)
	IdempotencyKeyBooking(ctx context.Context, keyHash string) (string, error)
	Availability(ctx context.Context, hotelID, checkIn, checkOut string) (*booking.Availability, error)
	Book(ctx context.Context, cmd contracts.BookRoom) (*booking.Booking, bool, error)
}

// Catalogue is the cached catalogue (catalogue.Cache).
type Catalogue interface {
	Get(ctx context.Context) (*catalogue.Catalogue, error)
}

// Publisher publishes and waits for the broker's confirm (messaging.Publisher).
type Publisher interface {
	Publish(topic string, msgs ...*message.Message) error
}

// Vouchers fetches voucher PDFs (voucher.Client).
type Vouchers interface {
	Voucher(ctx context.Context, bookingID string) (*voucher.PDF, error)
}

// Config configures the API.
type Config struct {
	Transport string
	IDs       *bookingid.Issuer
	Bookings  BookingService
	Catalogue Catalogue
	Publisher Publisher // queue transport only
	Vouchers  Vouchers
	Hub       *live.Hub
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
	Streams        *live.Streams
	ClientAddress  func(*http.Request) (netip.Addr, bool)
	StreamLifetime time.Duration
	Metrics        *Metrics
	Logger         *slog.Logger
	// Now is the clock ("today" for dates).
	Now func() time.Time
}

// API serves the public JSON endpoints.
type API struct {
	cfg        Config
	log        *slog.Logger
	retryAfter string
}

// New builds the API.
func New(cfg Config) (*API, error) {
	if cfg.IDs == nil || cfg.Bookings == nil || cfg.Catalogue == nil || cfg.Vouchers == nil || cfg.Hub == nil ||
		cfg.Streams == nil || cfg.ClientAddress == nil {
		panic("api: missing dependency")
	}
	switch cfg.Transport {
	case TransportQueue:
		if cfg.Publisher == nil {
			panic("api: queue transport without a Publisher")
		}
	case TransportDirect:
	default:
		return nil, fmt.Errorf("transport %q is not %q or %q", cfg.Transport, TransportQueue, TransportDirect)
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
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
