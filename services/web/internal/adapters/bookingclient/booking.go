// Package bookingclient is the web tier's HTTP client of the booking service's
// internal API (docs/internal-api.md): the catalogue, bookings, availability,
// idempotency keys, and the direct-mode booking call (app.BookingService, and
// app.CatalogueSource).
package bookingclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

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
func (c *Client) Catalogue(ctx context.Context) (*domain.Catalogue, error) {
	var cat domain.Catalogue
	if err := c.get(ctx, "/internal/catalogue", &cat); err != nil {
		return nil, fmt.Errorf("fetch catalogue: %w", err)
	}
	return &cat, nil
}

// Booking fetches a booking; app.ErrBookingNotFound if the booking service has not stored it (yet).
func (c *Client) Booking(ctx context.Context, id string) (*domain.Booking, error) {
	var b domain.Booking
	if err := c.get(ctx, "/internal/bookings/"+url.PathEscape(id), &b); err != nil {
		return nil, fmt.Errorf("get booking %s: %w", id, err)
	}
	return &b, nil
}

// Availability returns the rooms free on every night of a stay; app.ErrBookingNotFound
// for an unknown hotel, a *app.StatusError for dates the booking service rejects.
func (c *Client) Availability(ctx context.Context, hotelID, checkIn, checkOut string) (*domain.Availability, error) {
	q := url.Values{"check_in": {checkIn}, "check_out": {checkOut}}
	var a domain.Availability
	if err := c.get(ctx, "/internal/hotels/"+url.PathEscape(hotelID)+"/availability?"+q.Encode(), &a); err != nil {
		return nil, fmt.Errorf("availability of %s: %w", hotelID, err)
	}
	return &a, nil
}

// Book makes a booking in the request (direct mode). created is false when
// the booking existed already (a repeated Idempotency-Key).
func (c *Client) Book(ctx context.Context, cmd contracts.BookRoom) (b *domain.Booking, created bool, err error) {
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
	var out domain.Booking
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
// app.ErrBookingNotFound, app.ErrBookingUnavailable or *app.StatusError.
func (c *Client) do(req *http.Request, dst any) (int, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", app.ErrBookingUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
			// A booking service that answers garbage cannot be relied on.
			return resp.StatusCode, fmt.Errorf("%w: decode answer: %w", app.ErrBookingUnavailable, err)
		}
		return resp.StatusCode, nil
	case resp.StatusCode == http.StatusNotFound:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, app.ErrBookingNotFound
	case resp.StatusCode/100 == 4:
		se := &app.StatusError{Status: resp.StatusCode}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&se.Body); err != nil || se.Body.Error.Code == "" {
			se.Body.Error = httpx.ErrorDetail{Code: "rejected", Message: http.StatusText(resp.StatusCode)}
		}
		return resp.StatusCode, se
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, fmt.Errorf("%w: answered %s", app.ErrBookingUnavailable, resp.Status)
	}
}
