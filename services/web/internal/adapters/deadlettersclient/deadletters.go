// Package deadlettersclient is the web tier's HTTP client of the deadletters
// service's admin API (app.DeadLetters): the console's requests go through
// to the same paths there, with the operator's token.
package deadlettersclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/staybook/staybook/services/web/internal/app"
)

// Headers passed on in each direction.
var (
	requestHeaders  = []string{"Authorization", "Content-Type", "Accept"}
	responseHeaders = []string{"Content-Type", "Cache-Control", "Retry-After", "WWW-Authenticate"}
)

// Config configures a Client.
type Config struct {
	// BaseURL is the deadletters service (DEADLETTERS_URL).
	BaseURL string
	// Client calls it (traced); a replay waits for the broker's confirm there.
	Client *http.Client
}

// Client forwards requests to the deadletters service.
type Client struct {
	base *url.URL
	http *http.Client
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("deadletters URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: base, http: cfg.Client}, nil
}

// Forward sends req to the same path of the deadletters service and returns
// its answer, whatever its status; an error if it could not be reached.
func (c *Client) Forward(ctx context.Context, req app.DeadLetterRequest) (*app.DeadLetterAnswer, error) {
	target := *c.base
	target.Path = c.base.Path + req.Path
	target.RawPath = c.base.EscapedPath() + req.EscapedPath
	target.RawQuery = req.RawQuery
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, target.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for _, h := range requestHeaders {
		if v := req.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	resp, err := c.http.Do(out)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	for _, h := range responseHeaders {
		if v := resp.Header.Get(h); v != "" {
			header.Set(h, v)
		}
	}
	return &app.DeadLetterAnswer{Status: resp.StatusCode, Header: header, Body: resp.Body}, nil
}
