package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/uuid"

	"github.com/staybook/staybook/shared/config"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
	"github.com/staybook/staybook/services/web/internal/ports/ratelimit"
)

// Development defaults of the booking ID settings. Every replica must share
// them; production sets its own secret.
const (
	DefaultBookingIDNamespace = "8d3f5a52-6c1e-4b8e-a2f7-3c9e1d0b7a64"
	DevBookingIDSecret        = "staybook-development-booking-id-secret"
)

// Name is the service's name (logs, queue names, faults).
const Name = "web"

// Config is the web tier's configuration (environment variables).
type Config struct {
	config.Common
	BookingURL       string `env:"BOOKING_URL" envDefault:"http://localhost:8081"`
	VoucherURL       string `env:"VOUCHER_URL" envDefault:"http://localhost:8082"`
	BookingTransport string `env:"BOOKING_TRANSPORT" envDefault:"queue"`
	// BookingIDNamespace and BookingIDSecret must be the same on every
	// replica: an Idempotency-Key gives the same ID everywhere and any
	// replica recognises the IDs the others issued.
	BookingIDNamespace string        `env:"BOOKING_ID_NAMESPACE" envDefault:"8d3f5a52-6c1e-4b8e-a2f7-3c9e1d0b7a64"`
	BookingIDSecret    string        `env:"BOOKING_ID_SECRET" envDefault:"staybook-development-booking-id-secret"`
	CatalogueTTL       time.Duration `env:"CATALOGUE_TTL" envDefault:"30s"`
	// BookingRetryAfter is the Retry-After (seconds) of a 202 and of a 503.
	BookingRetryAfter int   `env:"BOOKING_RETRY_AFTER" envDefault:"1"`
	MaxBodyBytes      int64 `env:"MAX_BODY_BYTES" envDefault:"16384"`
	// BookingDirectTimeout bounds the direct-mode call to the booking service.
	BookingDirectTimeout time.Duration `env:"BOOKING_DIRECT_TIMEOUT" envDefault:"30s"`
	// HTTPWriteTimeout bounds writing an answer (event streams are exempt);
	// it must exceed BOOKING_DIRECT_TIMEOUT and PUBLISH_TIMEOUT.
	HTTPWriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"60s"`
	// SSEHeartbeat is how often an idle event stream gets a comment line.
	SSEHeartbeat time.Duration `env:"SSE_HEARTBEAT" envDefault:"15s"`
	// SSEMaxStreams bounds the event streams open on a replica (503 past
	// it) and SSEMaxStreamsPerClient those of one client address (429);
	// SSEMaxLifetime ends a stream, with a reconnect hint, after about that long.
	SSEMaxStreams          int           `env:"SSE_MAX_STREAMS" envDefault:"2000"`
	SSEMaxStreamsPerClient int           `env:"SSE_MAX_STREAMS_PER_CLIENT" envDefault:"8"`
	SSEMaxLifetime         time.Duration `env:"SSE_MAX_LIFETIME" envDefault:"10m"`
	// AdminToken is the admin API's bearer token; empty turns it off.
	AdminToken string `env:"ADMIN_TOKEN"`
	// AdminMaxFailures wrong admin tokens per client address, refilled at
	// AdminMaxFailures per AdminFailureWindow, before that address gets 429.
	AdminMaxFailures   int           `env:"ADMIN_MAX_FAILURES" envDefault:"10"`
	AdminFailureWindow time.Duration `env:"ADMIN_FAILURE_WINDOW" envDefault:"1m"`
	// DeadlettersURL is the deadletters service, behind the admin API.
	DeadlettersURL string `env:"DEADLETTERS_URL" envDefault:"http://localhost:8085"`
	// JaegerQueryURL is Jaeger's query API, read by the booking trace page.
	JaegerQueryURL string `env:"JAEGER_QUERY_URL" envDefault:"http://localhost:16686"`
	// JaegerUIURL, if set, is where the trace page links to Jaeger's own UI.
	JaegerUIURL string `env:"JAEGER_UI_URL"`
	// TrustedOrigins are other origins (scheme://host[:port]) whose pages
	// may post to this one, such as the public address when a proxy in
	// front rewrites the Host header.
	TrustedOrigins []string `env:"TRUSTED_ORIGINS" envSeparator:","`
	// RateLimitRPS is the public API's sustained requests per second per
	// client address (0: no limit); RateLimitBurst the bucket size.
	RateLimitRPS   float64 `env:"RATE_LIMIT_RPS" envDefault:"20"`
	RateLimitBurst int     `env:"RATE_LIMIT_BURST" envDefault:"40"`
	// RateLimitMaxClients bounds the client buckets a replica keeps.
	RateLimitMaxClients int `env:"RATE_LIMIT_MAX_CLIENTS" envDefault:"100000"`
	// RateLimitExempt clients are never limited (loopback by default, so a
	// load test on the same machine is not throttled); "none" for none.
	RateLimitExempt []string `env:"RATE_LIMIT_EXEMPT" envSeparator:"," envDefault:"127.0.0.0/8,::1"`
	// TrustedProxies (the load balancer) may name the client in
	// ClientAddressHeader: X-Forwarded-For (its rightmost hop that is not a
	// trusted proxy) or a header the proxy sets to one address (X-Real-IP).
	TrustedProxies      []string `env:"TRUSTED_PROXIES" envSeparator:","`
	ClientAddressHeader string   `env:"CLIENT_ADDRESS_HEADER" envDefault:"X-Forwarded-For"`
	// LoadTestToken, if set, exempts requests carrying it in the
	// X-Loadtest-Token header from the rate limit: the operator's load test
	// through the load balancer (SECURITY.md says why).
	LoadTestToken string `env:"LOADTEST_TOKEN"`
}

// DefaultConfig is the configuration with every default and no environment
// read; config.Load(&cfg) then applies the environment.
func DefaultConfig() Config {
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: map[string]string{}}); err != nil {
		panic(fmt.Sprintf("web: default configuration: %v", err)) // the tags above are wrong
	}
	cfg.Defaults(Name, ":8080")
	return cfg
}

// LoadConfig reads the configuration from the environment over DefaultConfig.
func LoadConfig() (Config, error) {
	return config.LoadOver(DefaultConfig())
}

// Validate reports every bad value, naming its variable.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	errs = append(errs, c.validateURLs()...)
	errs = append(errs, c.validateBookings()...)
	errs = append(errs, c.validateRequests()...)
	errs = append(errs, c.validateClients()...)
	return errors.Join(errs...)
}

// validateURLs checks the other services' URLs.
func (c Config) validateURLs() []error {
	var errs []error
	urls := [][2]string{{"BOOKING_URL", c.BookingURL}, {"VOUCHER_URL", c.VoucherURL},
		{"DEADLETTERS_URL", c.DeadlettersURL}, {"JAEGER_QUERY_URL", c.JaegerQueryURL}}
	if c.JaegerUIURL != "" {
		urls = append(urls, [2]string{"JAEGER_UI_URL", c.JaegerUIURL})
	}
	for _, nu := range urls {
		name, u := nu[0], nu[1]
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", name, u))
		}
	}
	return errs
}

// validateBookings checks the transport, the booking ID settings and the secrets.
func (c Config) validateBookings() []error {
	var errs []error
	switch c.BookingTransport {
	case app.TransportQueue, app.TransportDirect:
	default:
		errs = append(errs, fmt.Errorf("BOOKING_TRANSPORT: %q is not %q or %q", c.BookingTransport, app.TransportQueue, app.TransportDirect))
	}
	if _, err := uuid.Parse(c.BookingIDNamespace); err != nil {
		errs = append(errs, fmt.Errorf("BOOKING_ID_NAMESPACE: %q is not a UUID", c.BookingIDNamespace))
	}
	if len(c.BookingIDSecret) < domain.MinSecretBytes {
		errs = append(errs, fmt.Errorf("BOOKING_ID_SECRET: must be at least %d bytes", domain.MinSecretBytes))
	}
	if c.UsesDevSecret() && !c.Development {
		errs = append(errs, errors.New("BOOKING_ID_SECRET: is not set (the public development default would let anyone forge booking IDs); generate one with `openssl rand -hex 32`, or set STAYBOOK_DEV=true on a development machine (make dev does)"))
	} else {
		errs = append(errs, c.CheckSecrets(config.Secret{Name: "BOOKING_ID_SECRET", Value: c.BookingIDSecret}))
	}
	errs = append(errs, c.CheckSecrets(
		config.Secret{Name: "ADMIN_TOKEN", Value: c.AdminToken, Optional: true},
		config.Secret{Name: "LOADTEST_TOKEN", Value: c.LoadTestToken, Optional: true},
	))
	return errs
}

// validateRequests checks the catalogue, body and timeout settings.
func (c Config) validateRequests() []error {
	errs := []error{config.Positive("CATALOGUE_TTL", c.CatalogueTTL)}
	if c.BookingRetryAfter < 1 {
		errs = append(errs, fmt.Errorf("BOOKING_RETRY_AFTER: %d must be at least 1 (seconds)", c.BookingRetryAfter))
	}
	errs = append(errs,
		config.AtLeast("MAX_BODY_BYTES", c.MaxBodyBytes, 256),
		config.Positive("BOOKING_DIRECT_TIMEOUT", c.BookingDirectTimeout),
		config.Positive("HTTP_WRITE_TIMEOUT", c.HTTPWriteTimeout),
	)
	if c.HTTPWriteTimeout <= c.PublishTimeout || (c.BookingTransport == app.TransportDirect && c.HTTPWriteTimeout <= c.BookingDirectTimeout) {
		errs = append(errs, fmt.Errorf("HTTP_WRITE_TIMEOUT: %s must exceed PUBLISH_TIMEOUT and, in direct mode, BOOKING_DIRECT_TIMEOUT", c.HTTPWriteTimeout))
	}
	return errs
}

// validateClients checks the rate limit, client addresses, streams, admin failures and origins.
func (c Config) validateClients() []error {
	errs := []error{config.NotNegative("RATE_LIMIT_RPS", c.RateLimitRPS)}
	if _, err := ratelimit.ParsePrefixes(c.RateLimitExempt); err != nil {
		errs = append(errs, fmt.Errorf("RATE_LIMIT_EXEMPT: %w", err))
	}
	if _, err := ratelimit.ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	errs = append(errs, config.AtLeast("RATE_LIMIT_MAX_CLIENTS", c.RateLimitMaxClients, 1))
	if c.ClientAddressHeader == "" || strings.ContainsFunc(c.ClientAddressHeader, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ':' }) {
		errs = append(errs, fmt.Errorf("CLIENT_ADDRESS_HEADER: %q is not a header name", c.ClientAddressHeader))
	}
	if c.SSEMaxStreams < 1 || c.SSEMaxStreamsPerClient < 1 {
		errs = append(errs, fmt.Errorf("SSE_MAX_STREAMS (%d) and SSE_MAX_STREAMS_PER_CLIENT (%d) must be at least 1", c.SSEMaxStreams, c.SSEMaxStreamsPerClient))
	}
	errs = append(errs, config.AtLeast("SSE_MAX_LIFETIME", c.SSEMaxLifetime, time.Second))
	if c.AdminMaxFailures < 1 || c.AdminFailureWindow <= 0 {
		errs = append(errs, fmt.Errorf("ADMIN_MAX_FAILURES (%d) and ADMIN_FAILURE_WINDOW (%s) must be positive", c.AdminMaxFailures, c.AdminFailureWindow))
	}
	for _, o := range c.TrustedOrigins {
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_ORIGINS: %w", err))
		}
	}
	return append(errs, config.Positive("SSE_HEARTBEAT", c.SSEHeartbeat))
}

// UsesDevSecret reports whether the booking ID secret is the public
// development default (anyone could forge IDs the service would accept).
func (c Config) UsesDevSecret() bool { return c.BookingIDSecret == DevBookingIDSecret }
