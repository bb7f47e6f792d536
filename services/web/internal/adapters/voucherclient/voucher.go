// Package voucherclient is the web tier's HTTP client of the voucher service:
// it fetches a booking's voucher PDF for the public API to pass on
// (app.Vouchers).
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

	"github.com/staybook/staybook/services/web/internal/app"
)

// ErrUnavailable: the voucher service could not be reached or failed.
var ErrUnavailable = errors.New("voucher service unavailable")

// Config configures a Client.
type Config struct {
	BaseURL string // VOUCHER_URL
	// Timeout bounds the whole download.
	Timeout   time.Duration
	Transport http.RoundTripper
}

// Client fetches vouchers.
type Client struct {
	base    string
	timeout time.Duration
	http    *http.Client
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("voucher service URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	return &Client{base: base.String(), timeout: cfg.Timeout, http: &http.Client{Transport: cfg.Transport}}, nil
}

// download is an open voucher download: closing it ends the request.
type download struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (d download) Close() error {
	defer d.cancel()
	return d.ReadCloser.Close()
}

// Voucher opens the voucher PDF of a booking; app.ErrVoucherNotFound if it
// does not exist (yet).
func (c *Client) Voucher(ctx context.Context, bookingID string) (*app.VoucherPDF, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/internal/vouchers/"+url.PathEscape(bookingID)+".pdf", nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("voucher of %s: %w", bookingID, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("voucher of %s: %w: %w", bookingID, ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusNotFound {
			return nil, app.ErrVoucherNotFound
		}
		return nil, fmt.Errorf("voucher of %s: %w: answered %s", bookingID, ErrUnavailable, resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/pdf"
	}
	return &app.VoucherPDF{ReadCloser: download{ReadCloser: resp.Body, cancel: cancel}, ContentType: ct, ContentLength: resp.ContentLength}, nil
}
