// Package voucherclient fetches voucher PDFs from the voucher service's
// internal API (GET /internal/vouchers/{booking_id}.pdf): the email
// service's app.VoucherSource.
package voucherclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotReady: the voucher service answered, but has no voucher for
// the booking (yet), or failed. Like an unreachable service, it is worth a retry.
var ErrNotReady = errors.New("voucher not available")

// Config configures a Client.
type Config struct {
	// BaseURL is the voucher service (VOUCHER_URL), e.g. http://localhost:8082.
	BaseURL string
	// Timeout bounds one fetch, body included.
	Timeout time.Duration
	// MaxBytes bounds the PDF's size.
	MaxBytes int64
	// Transport is the HTTP transport; http.DefaultTransport if nil.
	Transport http.RoundTripper
}

// Client fetches voucher PDFs from the voucher service.
type Client struct {
	base     *url.URL
	client   *http.Client
	maxBytes int64
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 10 << 20
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("voucher service url %q is not an http(s) url", cfg.BaseURL)
	}
	return &Client{
		base:     base,
		client:   &http.Client{Timeout: cfg.Timeout, Transport: cfg.Transport},
		maxBytes: cfg.MaxBytes,
	}, nil
}

// VoucherPDF returns the booking's voucher. Every failure is transient: a
// 404 means the voucher service has not stored it yet (or another replica's
// write is not visible yet), a 5xx or no answer that the service is in trouble.
func (c *Client) VoucherPDF(ctx context.Context, bookingID string) ([]byte, error) {
	u := c.base.JoinPath("internal", "vouchers", bookingID+".pdf")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("voucher request: %w", err)
	}
	req.Header.Set("Accept", "application/pdf")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil, fmt.Errorf("get %s: %s: %w", u.Redacted(), resp.Status, ErrNotReady)
	}
	pdf, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u.Redacted(), err)
	}
	if int64(len(pdf)) > c.maxBytes {
		return nil, fmt.Errorf("get %s: voucher larger than %d bytes", u.Redacted(), c.maxBytes)
	}
	return pdf, nil
}
