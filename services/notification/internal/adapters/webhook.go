package adapters

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/staybook/staybook/services/notification/internal/domain"
)

// Headers every webhook request carries besides Content-Type.
const (
	// WebhookEventHeader names the event, so a receiver can route before parsing.
	WebhookEventHeader = "X-Staybook-Event"
	// WebhookDeliveryHeader is the same for every delivery of the same
	// notification ("<booking_id>:<event>"): deliveries are at least once,
	// and a receiver that cares deduplicates on it.
	WebhookDeliveryHeader = "Idempotency-Key"
)

// WebhookConfig configures a Webhooks client.
type WebhookConfig struct {
	// Timeout bounds one POST (default 5 s).
	Timeout time.Duration
	// Client defaults to a client of its own.
	Client *http.Client
}

// Webhooks POSTs notifications as JSON to other services' webhook URLs.
type Webhooks struct {
	cfg    WebhookConfig
	client *http.Client
}

// NewWebhooks returns a client.
func NewWebhooks(cfg WebhookConfig) *Webhooks {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Webhooks{cfg: cfg, client: client}
}

// ParseWebhookURL checks one NOTIFY_WEBHOOK_URLS entry.
func ParseWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("NOTIFY_WEBHOOK_URLS: %q is not an http(s) URL", RedactURL(raw))
	}
	return nil
}

// Send POSTs e to target. Any answer but 2xx, and any transport error, is a
// transient failure: the receiver may be restarting.
func (w *Webhooks) Send(ctx context.Context, target string, e domain.WebhookEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode webhook body: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", RedactURL(target), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookEventHeader, e.Event)
	req.Header.Set(WebhookDeliveryHeader, e.BookingID+":"+e.Event)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", RedactURL(target), stripURL(err))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", RedactURL(target), resp.Status)
	}
	return nil
}

// RedactURL keeps scheme, host and path of a URL for logs and errors: a
// webhook URL's query or user info often holds a secret.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
