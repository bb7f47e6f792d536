// Package downstreamclient calls the voucher, email and notification services'
// synchronous endpoints, for direct mode (docs/internal-api.md).
package downstreamclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/staybook/staybook/shared/contracts"
)

// Config holds the services' base URLs.
type Config struct {
	VoucherURL, EmailURL, NotificationURL string
	Client                                *http.Client
}

// Client calls the downstream services over HTTP.
type Client struct{ cfg Config }

// New returns a Client; a nil Config.Client gets one with a 30 s timeout.
func New(cfg Config) *Client {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{cfg: cfg}
}

// CreateVoucher asks the voucher service to render and store the voucher.
func (c *Client) CreateVoucher(ctx context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, error) {
	var out contracts.VoucherCreated
	return out, c.post(ctx, c.cfg.VoucherURL+"/internal/vouchers", ev, &out)
}

// SendEmail asks the email service to send the confirmation email.
func (c *Client) SendEmail(ctx context.Context, ev contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	var out contracts.ConfirmationEmailSent
	return out, c.post(ctx, c.cfg.EmailURL+"/internal/emails", ev, &out)
}

// Notify asks the notification service to tell the customer and the webhooks.
func (c *Client) Notify(ctx context.Context, event string, payload any) (contracts.CustomerNotified, error) {
	var out contracts.CustomerNotified
	body := map[string]any{"event": event, "payload": payload}
	return out, c.post(ctx, c.cfg.NotificationURL+"/internal/notifications", body, &out)
}

func (c *Client) post(ctx context.Context, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
