package ratelimit

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// DefaultMaxClients bounds the clients a Buckets remembers. A bucket is
// about 230 bytes of heap with its cache entry (BenchmarkBuckets_DistinctAddresses),
// so the default holds at most ~23 MB.
const DefaultMaxClients = 100_000

// Buckets is a token bucket per client address, at most MaxClients of them:
// past the bound the client seen least recently is forgotten (it starts
// again with a full bucket). Memory is bounded whatever addresses arrive;
// an attacker rotating addresses gains only the burst of each address it
// has, which it had anyway.
type Buckets struct {
	rps     rate.Limit
	burst   int
	clients *lru.Cache[netip.Addr, *rate.Limiter]
}

// NewBuckets returns buckets refilling at rps up to burst, for at most
// maxClients clients (DefaultMaxClients if 0).
func NewBuckets(rps float64, burst, maxClients int) (*Buckets, error) {
	if rps <= 0 || math.IsInf(rps, 0) || math.IsNaN(rps) {
		return nil, fmt.Errorf("ratelimit: rate %g must be positive", rps)
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(rps)))
	}
	if maxClients == 0 {
		maxClients = DefaultMaxClients
	}
	cache, err := lru.New[netip.Addr, *rate.Limiter](maxClients)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	return &Buckets{rps: rate.Limit(rps), burst: burst, clients: cache}, nil
}

// Allow takes a token from a's bucket at now; false if it is empty.
func (b *Buckets) Allow(a netip.Addr, now time.Time) bool {
	return b.bucket(a).AllowN(now, 1)
}

// Has reports whether a's bucket holds a token at now, without taking it.
func (b *Buckets) Has(a netip.Addr, now time.Time) bool {
	lim, ok := b.clients.Get(a)
	return !ok || lim.TokensAt(now) >= 1
}

// Len is the number of clients remembered (at most the bound).
func (b *Buckets) Len() int { return b.clients.Len() }

// RetryAfter is the whole seconds until an empty bucket has a token again.
func (b *Buckets) RetryAfter() int { return max(1, int(math.Ceil(1/float64(b.rps)))) }

func (b *Buckets) bucket(a netip.Addr) *rate.Limiter {
	if lim, ok := b.clients.Get(a); ok {
		return lim
	}
	lim := rate.NewLimiter(b.rps, b.burst)
	if prev, ok, _ := b.clients.PeekOrAdd(a, lim); ok {
		return prev // another request added it first
	}
	return lim
}
