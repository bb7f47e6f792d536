// Package booking is the web tier's HTTP client of the booking service's
// internal API (docs/internal-api.md): the catalogue, bookings, availability,
// idempotency keys, and the direct-mode booking call.
package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/catalogue"
)

// Errors a caller tells apart.
var (
	// ErrNotFound: the booking service answered 404.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the booking service could not be reached, timed out or
	// answered 5xx.
	ErrUnavailable = errors.New("booking service unavailable")
)

// StatusError is a 4xx answer other than 404, kept so that it can be passed
// through to the client.
type StatusError struct {
	Status int
	Body   httpx.ErrorBody
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("booking service answered %d: %s %s", e.Status, e.Body.Error.Code, e.Body.Error.Message)
}

// Booking is a booking as GET /internal/bookings/{id} shows it.
type Booking struct {
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

// Availability is how many rooms of each type are free on every night of a stay.
type Availability struct {
	RoomTypes []RoomAvailability `json:"room_types"`
}

// RoomAvailability is one room type's free rooms.
type RoomAvailability struct {
	ID        string `json:"id"`
	Available int    `json:"available"`
}

// Config configures a Client.
type Config struct {
	// BaseURL is the booking service (BOOKING_URL).
	BaseURL string
	// Timeout bounds the quick calls (catalogue, lookups, availability).
	Timeout time.Duration
	// KeyLookupTimeout bounds the Idempotency-Key lookup, which sits in the
	// path of every keyed booking and is skipped when it fails: a booking
	// service that hangs must not hold bookings up for long.
	KeyLookupTimeout time.Duration
	// DirectTimeout bounds the direct-mode booking call, which books and runs
	// every background task in the request.
	DirectTimeout time.Duration
	// Transport is the HTTP transport (tests and tuning); nil means a pooled default.
	Transport http.RoundTripper
}

// Client calls the booking service.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("booking service URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.KeyLookupTimeout <= 0 {
		cfg.KeyLookupTimeout = time.Second
	}
	if cfg.DirectTimeout <= 0 {
		cfg.DirectTimeout = 30 * time.Second
	}
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Every web request may call booking: keep enough connections warm.
		t.MaxIdleConnsPerHost = 64
		cfg.Transport = t
	}
	return &Client{cfg: cfg, base: base, http: &http.Client{Transport: cfg.Transport}}, nil
}

// Catalogue fetches every hotel and room type.
func (c *Client) Catalogue(ctx context.Context) (*catalogue.Catalogue, error) {
	var cat catalogue.Catalogue
	if err := c.get(ctx, "/internal/catalogue", &cat); err != nil {
		return nil, fmt.Errorf("fetch catalogue: %w", err)
	}
	return &cat, nil
}

// Booking fetches a booking; ErrNotFound if the booking service has not stored it (yet).
func (c *Client) Booking(ctx context.Context, id string) (*Booking, error) {
	var b Booking
	if err := c.get(ctx, "/internal/bookings/"+url.PathEscape(id), &b); err != nil {
		return nil, fmt.Errorf("get booking %s: %w", id, err)
	}
	return &b, nil
}

// IdempotencyKeyBooking returns the ID of the booking that used the
// Idempotency-Key with the given SHA-256 (hex); ErrNotFound if none did.
func (c *Client) IdempotencyKeyBooking(ctx context.Context, keyHash string) (string, error) {
	var v struct {
		BookingID string `json:"booking_id"`
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.KeyLookupTimeout)
	defer cancel()
	if err := c.get(ctx, "/internal/idempotency-keys/"+url.PathEscape(keyHash), &v); err != nil {
		return "", fmt.Errorf("look up idempotency key: %w", err)
	}
	return v.BookingID, nil
}

// Availability returns the rooms free on every night of a stay; ErrNotFound
// for an unknown hotel, a *StatusError for dates the booking service rejects.
func (c *Client) Availability(ctx context.Context, hotelID, checkIn, checkOut string) (*Availability, error) {
	q := url.Values{"check_in": {checkIn}, "check_out": {checkOut}}
	var a Availability
	if err := c.get(ctx, "/internal/hotels/"+url.PathEscape(hotelID)+"/availability?"+q.Encode(), &a); err != nil {
		return nil, fmt.Errorf("availability of %s: %w", hotelID, err)
	}
	return &a, nil
}

// Book makes a booking in the request (direct mode). created is false when
// the booking existed already (a repeated Idempotency-Key).
func (c *Client) Book(ctx context.Context, cmd contracts.BookRoom) (b *Booking, created bool, err error) {
	body, err := json.Marshal(cmd)
	if err != nil {
		return nil, false, fmt.Errorf("encode BookRoom: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DirectTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+"/internal/bookings", bytes.NewReader(body))
	if err != nil {
		return nil, false, fmt.Errorf("book %s: %w", cmd.BookingID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	var out Booking
	status, err := c.do(req, &out)
	if err != nil {
		return nil, false, fmt.Errorf("book %s: %w", cmd.BookingID, err)
	}
	return &out, status == http.StatusCreated, nil
}

func (c *Client) get(ctx context.Context, path string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path, nil)
	if err != nil {
		return err
	}
	_, err = c.do(req, dst)
	return err
}

// do sends req and decodes a 2xx JSON answer into dst, mapping the rest to
// ErrNotFound, ErrUnavailable or *StatusError.
func (c *Client) do(req *http.Request, dst any) (int, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
			// A booking service that answers garbage cannot be relied on.
			return resp.StatusCode, fmt.Errorf("%w: decode answer: %w", ErrUnavailable, err)
		}
		return resp.StatusCode, nil
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, ErrNotFound
	case resp.StatusCode/100 == 4:
		se := &StatusError{Status: resp.StatusCode}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&se.Body); err != nil || se.Body.Error.Code == "" {
			se.Body.Error = httpx.ErrorDetail{Code: "rejected", Message: http.StatusText(resp.StatusCode)}
		}
		return resp.StatusCode, se
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, fmt.Errorf("%w: answered %s", ErrUnavailable, resp.Status)
	}
}
