// Package adapters connects the notification use case to the outside: the
// ntfy push gateway, webhook receivers, the broker (events this service
// publishes) and the in-memory record of recent deliveries.
package adapters

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/domain"
)

// NtfyConfig configures an Ntfy client.
type NtfyConfig struct {
	// URL is the ntfy server's base URL, e.g. http://ntfy:80 or https://ntfy.sh.
	URL string
	// Token, if set, is sent as a bearer token (an ntfy access token, for
	// servers that restrict who may publish).
	Token string
	// Timeout bounds one publish (default 5 s).
	Timeout time.Duration
	// Client defaults to a client of its own.
	Client *http.Client
}

// Ntfy publishes push messages through ntfy's HTTP publish API: a POST to
// <URL>/<topic> with the message as body and the title, tags, priority and
// click action as headers (https://docs.ntfy.sh/publish/).
type Ntfy struct {
	base   string
	cfg    NtfyConfig
	client *http.Client
}

// NewNtfy checks cfg and returns a client.
func NewNtfy(cfg NtfyConfig) (*Ntfy, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("NTFY_URL: %q is not an http(s) URL", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Ntfy{base: strings.TrimRight(cfg.URL, "/"), cfg: cfg, client: client}, nil
}

// Push publishes p to topic. A refusal that retrying cannot fix (a 4xx other
// than 408 and 429: a bad token, a message too large) is permanent, so the
// message is dead-lettered for an operator instead of discarded; everything
// else (5xx, 429, network) is transient. Errors never name the topic: it
// is the guest's secret.
func (c *Ntfy) Push(ctx context.Context, topic string, p domain.Push) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/"+url.PathEscape(topic), strings.NewReader(p.Message))
	if err != nil {
		return fmt.Errorf("ntfy request: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if p.Title != "" {
		req.Header.Set("Title", headerText(p.Title))
	}
	if len(p.Tags) > 0 {
		req.Header.Set("Tags", strings.Join(p.Tags, ","))
	}
	if p.Priority != "" {
		req.Header.Set("Priority", p.Priority)
	}
	if p.Click != "" {
		req.Header.Set("Click", p.Click)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("ntfy publish: %w", stripURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("ntfy answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
		return messaging.Permanent(err)
	}
	return err
}

// headerText encodes non-ASCII text as RFC 2047, which ntfy decodes; raw
// UTF-8 in a header is not reliably carried.
func headerText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || s[i] < 0x20 {
			return mime.BEncoding.Encode("UTF-8", s)
		}
	}
	return s
}

// stripURL keeps the cause of a transport error but drops the URL it names
// (for ntfy, the URL holds the guest's topic).
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
