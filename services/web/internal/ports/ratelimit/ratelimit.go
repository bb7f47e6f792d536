// Package ratelimit limits the public API's requests per client address: a
// token bucket per client (golang.org/x/time/rate) in a bounded cache
// (hashicorp/golang-lru), so that memory stays bounded whatever addresses
// arrive.
//
// Behind a load balancer the client is told apart by what the trusted
// proxy says (ClientAddresses): the rightmost X-Forwarded-For hop that is
// not a trusted proxy, or a header only the proxy sets (X-Real-IP). A
// client cannot pick its bucket by sending its own header.
//
// Two kinds of request are never limited: those from exempt networks
// (loopback by default, so a load test on the same machine measures the
// system rather than the limiter) and those carrying the load generator's
// token (LOADTEST_TOKEN), which the operator gives to the load test run
// through the load balancer.
package ratelimit

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/staybook/staybook/shared/httpx"
)

// LoadTestTokenHeader carries the load generator's token (LOADTEST_TOKEN).
const LoadTestTokenHeader = "X-Loadtest-Token"

// Config configures a Limiter.
type Config struct {
	// RPS is the sustained rate per client; 0 turns the limiter off.
	RPS   float64
	Burst int
	// MaxClients bounds the clients remembered (DefaultMaxClients if 0).
	MaxClients int
	// Exempt clients are never limited.
	Exempt []netip.Prefix
	// Clients tells the client address of a request.
	Clients ClientAddresses
	// LoadTestToken, if set, exempts the requests that carry it in
	// LoadTestTokenHeader: the operator's load generator.
	LoadTestToken string
	// Paths limited: a request whose path starts with one of these.
	Paths []string
}

// Limiter is HTTP middleware.
type Limiter struct {
	cfg       Config
	buckets   *Buckets // nil: no limit
	tokenHash [sha256.Size]byte
	now       func() time.Time
}

// New returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	l := &Limiter{cfg: cfg, now: time.Now}
	if cfg.LoadTestToken != "" {
		l.tokenHash = sha256.Sum256([]byte(cfg.LoadTestToken))
	}
	if cfg.RPS > 0 {
		var err error
		if l.buckets, err = NewBuckets(cfg.RPS, cfg.Burst, cfg.MaxClients); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// ParsePrefixes parses a list of CIDRs or addresses; "none" is the empty list.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" || strings.EqualFold(s, "none") {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Clients is the number of client buckets held (a metric and for tests).
func (l *Limiter) Clients() int {
	if l.buckets == nil {
		return 0
	}
	return l.buckets.Len()
}

// Middleware answers 429 with Retry-After to a client over its rate.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if l.buckets == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.limited(r) {
			next.ServeHTTP(w, r)
			return
		}
		a, ok := l.cfg.Clients.Of(r)
		if ok && !contains(l.cfg.Exempt, a) && !l.buckets.Allow(a, l.now()) {
			w.Header().Set("Retry-After", strconv.Itoa(l.buckets.RetryAfter()))
			httpx.WriteError(w, http.StatusTooManyRequests, "rate_limited", "too many requests; slow down")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (l *Limiter) limited(r *http.Request) bool {
	if l.cfg.LoadTestToken != "" {
		if t := r.Header.Get(LoadTestTokenHeader); t != "" {
			// Compare digests in constant time: neither the token nor its
			// length leaks through timing.
			h := sha256.Sum256([]byte(t))
			if subtle.ConstantTimeCompare(h[:], l.tokenHash[:]) == 1 {
				return false
			}
		}
	}
	for _, p := range l.cfg.Paths {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}
