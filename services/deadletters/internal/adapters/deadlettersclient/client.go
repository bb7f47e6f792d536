// Package deadlettersclient talks to the deadletters admin API (the dlq CLI uses it;
// so could any Go program): list, show, replay and purge dead letters.
package deadlettersclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the deadletters service (or the web tier, which proxies
	// the same paths), e.g. http://localhost:8085.
	BaseURL string
	// Token is the ADMIN_TOKEN.
	Token string
	// HTTP is the HTTP client (default: one with a 30 s timeout).
	HTTP *http.Client
}

// Client is an admin API client.
type Client struct {
	cfg  Config
	base *url.URL
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{cfg: cfg, base: u}, nil
}

// Letter is a dead letter as the API shows it.
type Letter struct {
	ID            string    `json:"id"`
	Status        string    `json:"status"`
	Topic         string    `json:"topic"`
	Queue         string    `json:"queue"`
	Handler       string    `json:"handler"`
	Reason        string    `json:"reason"`
	Attempts      int       `json:"attempts"`
	FirstFailedAt time.Time `json:"first_failed_at"`
	LastFailedAt  time.Time `json:"last_failed_at"`
	CorrelationID string    `json:"correlation_id"`
	// Payload is the JSON text (PayloadEncoding "json") or base64 ("base64").
	Payload         string            `json:"payload"`
	PayloadEncoding string            `json:"payload_encoding"`
	Metadata        map[string]string `json:"metadata"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
	ReplayedAt      *time.Time        `json:"replayed_at,omitempty"`
	ReplayCount     int               `json:"replay_count"`
	PurgedAt        *time.Time        `json:"purged_at,omitempty"`
}

// Failure is one failure round of a letter.
type Failure struct {
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	FailedAt time.Time `json:"failed_at"`
}

// Replay is one replay of a letter.
type Replay struct {
	ReplayedAt time.Time `json:"replayed_at"`
	Attempts   int       `json:"attempts"`
	Queue      string    `json:"queue"`
}

// Detail is a letter with its history.
type Detail struct {
	Letter
	History []Failure `json:"history"`
	Replays []Replay  `json:"replays"`
}

// ListOptions filters a listing; zero values mean no filter.
type ListOptions struct {
	Status  string // dead or replayed
	Handler string
	Reason  string // substring, case-insensitive
	Limit   int
	Before  string // the NextBefore of a previous page, or an RFC 3339 time
}

// Page is one page of a listing; NextBefore is set when more may follow.
type Page struct {
	DeadLetters []Letter `json:"dead_letters"`
	NextBefore  string   `json:"next_before,omitempty"`
}

// Error is an error answer of the API.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// List returns one page of letters, newest failure first.
func (c *Client) List(ctx context.Context, opts ListOptions) (Page, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": opts.Status, "handler": opts.Handler, "reason": opts.Reason, "before": opts.Before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	var p Page
	err := c.do(ctx, http.MethodGet, "", q, &p)
	return p, err
}

// Show returns the letter with id and its history.
func (c *Client) Show(ctx context.Context, id string) (Detail, error) {
	var d Detail
	err := c.do(ctx, http.MethodGet, "/"+url.PathEscape(id), nil, &d)
	return d, err
}

// Replay republishes the letter to its queue and returns it, replayed.
func (c *Client) Replay(ctx context.Context, id string) (Letter, error) {
	var l Letter
	err := c.do(ctx, http.MethodPost, "/"+url.PathEscape(id)+"/replay", nil, &l)
	return l, err
}

// Purge purges the letter.
func (c *Client) Purge(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/"+url.PathEscape(id), nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	u := c.base.String() + "/api/admin/dead-letters" + path // path's parts are escaped
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base.Redacted()+path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, c.base.Redacted()+path, err)
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode)}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		} else {
			e.Message = strings.TrimSpace(string(bytes.ToValidUTF8(body, nil)))
		}
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, c.base.Redacted()+path, err)
	}
	return nil
}
