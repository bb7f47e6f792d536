// Package ratelimit limits the public API's requests per client address, a
// token bucket per client (golang.org/x/time/rate). Addresses in exempt
// networks (loopback by default, so a load test from the same machine
// measures the system rather than the limiter) are never limited. Behind a
// load balancer, the client is the first X-Forwarded-For hop, but only when
// the request comes from a trusted proxy network.
package ratelimit

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/staybook/staybook/shared/httpx"
)

// Config configures a Limiter.
type Config struct {
	// RPS is the sustained rate per client; 0 turns the limiter off.
	RPS   float64
	Burst int
	// Exempt clients are never limited.
	Exempt []netip.Prefix
	// TrustedProxies may name the client in X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// Paths limited: a request whose path starts with one of these.
	Paths []string
}

// Limiter is HTTP middleware.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex
	clients map[netip.Addr]*client
	now     func() time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Burst < 1 {
		cfg.Burst = max(1, int(math.Ceil(cfg.RPS)))
	}
	return &Limiter{cfg: cfg, clients: map[netip.Addr]*client{}, now: time.Now}
}

// ParsePrefixes parses a comma-separated list of CIDRs or addresses.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
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

func contains(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is the address a request is counted against.
func (l *Limiter) Client(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if contains(l.cfg.TrustedProxies, a) {
		if first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ","); first != "" {
			if fa, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return fa.Unmap(), true
			}
		}
	}
	return a, true
}

// Middleware answers 429 with Retry-After to a client over its rate.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	if l.cfg.RPS <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.limited(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		a, ok := l.Client(r)
		if ok && !contains(l.cfg.Exempt, a) && !l.allow(a) {
			w.Header().Set("Retry-After", fmt.Sprint(max(1, int(math.Ceil(1/l.cfg.RPS)))))
			httpx.WriteError(w, http.StatusTooManyRequests, "rate_limited", "too many requests; slow down")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (l *Limiter) limited(path string) bool {
	for _, p := range l.cfg.Paths {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func (l *Limiter) allow(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c, ok := l.clients[a]
	if !ok {
		if len(l.clients) > 100_000 { // forget idle clients rather than grow without bound
			for k, v := range l.clients {
				if now.Sub(v.seen) > time.Minute {
					delete(l.clients, k)
				}
			}
		}
		c = &client{lim: rate.NewLimiter(rate.Limit(l.cfg.RPS), l.cfg.Burst)}
		l.clients[a] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}
