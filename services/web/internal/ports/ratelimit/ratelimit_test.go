package ratelimit

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func prefixes(t testing.TB, list ...string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func limiter(t *testing.T, cfg Config) http.Handler {
	t.Helper()
	cfg.RPS, cfg.Burst = 2, 3
	cfg.Paths = []string{"/api/", "/bookings"}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l.now = func() time.Time { return start } // the clock stands still: no refill
	return l.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

func hit(h http.Handler, path, remote string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLimiter_BurstThen429PerClient(t *testing.T) {
	h := limiter(t, Config{})
	for i := range 3 {
		if w := hit(h, "/api/bookings", "203.0.113.7:4000"); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := hit(h, "/api/bookings", "203.0.113.7:4001")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("4th: %d %v", w.Code, w.Header())
	}
	if w := hit(h, "/api/bookings", "203.0.113.8:4000"); w.Code != 200 {
		t.Fatalf("another client limited: %d", w.Code)
	}
	if w := hit(h, "/healthz", "203.0.113.7:4000"); w.Code != 200 {
		t.Fatalf("unlimited path: %d", w.Code)
	}
}

func TestLimiter_ExemptNetworksAreNeverLimited(t *testing.T) {
	h := limiter(t, Config{Exempt: prefixes(t, "127.0.0.0/8", "::1")})
	for range 10 {
		if w := hit(h, "/api/bookings", "127.0.0.1:5000"); w.Code != 200 {
			t.Fatalf("loopback limited: %d", w.Code)
		}
		if w := hit(h, "/api/bookings", "[::1]:5000"); w.Code != 200 {
			t.Fatalf("::1 limited: %d", w.Code)
		}
	}
}

func TestClientAddresses_RightmostForwardedHopThatIsNotATrustedProxy(t *testing.T) {
	c := ClientAddresses{TrustedProxies: prefixes(t, "10.0.0.0/8")}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"untrusted peer: its header is ignored", "192.0.2.9:80", []string{"198.51.100.1"}, "192.0.2.9"},
		{"trusted peer, one hop", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the client's own hops on the left count for nothing", "10.1.2.3:80", []string{"127.0.0.1, 203.0.113.5, 198.51.100.1"}, "198.51.100.1"},
		{"chained trusted proxies are skipped", "10.1.2.3:80", []string{"203.0.113.5, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines are one list", "10.1.2.3:80", []string{"203.0.113.5", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"hops with ports and IPv6", "10.1.2.3:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"garbage left of a trusted hop: the last trusted hop", "10.1.2.3:80", []string{"not-an-ip, 10.9.9.9"}, "10.9.9.9"},
		{"no header: the proxy itself", "10.1.2.3:80", nil, "10.1.2.3"},
		{"every hop trusted: the leftmost", "10.1.2.3:80", []string{"10.5.5.5, 10.9.9.9"}, "10.5.5.5"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := c.Of(r)
			if !ok || got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %v %v, want %s", got, ok, tc.want)
			}
		})
	}
}

func TestClientAddresses_RealIPHeaderOnlyFromATrustedProxy(t *testing.T) {
	c := ClientAddresses{TrustedProxies: prefixes(t, "10.0.0.0/8"), Header: HeaderRealIP}
	for _, tc := range []struct{ remote, realIP, xff, want string }{
		{"10.1.2.3:80", "198.51.100.1", "127.0.0.1", "198.51.100.1"}, // X-Forwarded-For is not read
		{"192.0.2.9:80", "198.51.100.1", "", "192.0.2.9"},            // untrusted peer
		{"10.1.2.3:80", "garbage", "", "10.1.2.3"},                   // misconfigured proxy: the proxy
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Real-IP", tc.realIP)
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got, _ := c.Of(r); got != netip.MustParseAddr(tc.want) {
			t.Errorf("%+v: got %v", tc, got)
		}
	}
}

// Behind nginx ($proxy_add_x_forwarded_for), a client that sends its own
// X-Forwarded-For, new each time or claiming an exempt address, stays in
// its own bucket.
func TestLimiter_AForgedForwardedForGainsNothing(t *testing.T) {
	h := limiter(t, Config{
		Exempt:  prefixes(t, "127.0.0.0/8"),
		Clients: ClientAddresses{TrustedProxies: prefixes(t, "10.0.0.0/8")},
	})
	passed := 0
	for i := range 100 {
		forged := fmt.Sprintf("203.0.113.%d", i)
		if i%2 == 0 {
			forged = "127.0.0.1"
		}
		// nginx appends the address it saw: 198.51.100.7.
		if w := hit(h, "/api/bookings", "10.1.2.3:80", "X-Forwarded-For", forged+", 198.51.100.7", "X-Real-IP", forged); w.Code == 200 {
			passed++
		}
	}
	if passed != 3 {
		t.Fatalf("%d of 100 passed, want the burst of 3", passed)
	}
	if w := hit(h, "/api/bookings", "10.1.2.3:80", "X-Forwarded-For", "198.51.100.8"); w.Code != 200 {
		t.Fatalf("a different client limited: %d", w.Code)
	}
}

func TestLimiter_TheLoadGeneratorsTokenIsExemptAndNoOtherValue(t *testing.T) {
	const token = "a-load-test-token-of-at-least-32-bytes"
	h := limiter(t, Config{LoadTestToken: token})
	for i := range 20 {
		if w := hit(h, "/api/bookings", "203.0.113.7:4000", LoadTestTokenHeader, token); w.Code != 200 {
			t.Fatalf("request %d with the token: %d", i, w.Code)
		}
	}
	limited := 0
	for range 10 {
		if w := hit(h, "/api/bookings", "203.0.113.7:4000", LoadTestTokenHeader, token+"x"); w.Code == 429 {
			limited++
		}
	}
	if limited != 7 {
		t.Fatalf("%d of 10 with a wrong token limited, want 7 (burst 3)", limited)
	}
	// Without a configured token, no value is one.
	h = limiter(t, Config{})
	for range 3 {
		hit(h, "/api/bookings", "203.0.113.7:4000", LoadTestTokenHeader, "")
	}
	if w := hit(h, "/api/bookings", "203.0.113.7:4000", LoadTestTokenHeader, ""); w.Code != 429 {
		t.Fatalf("empty token exempt: %d", w.Code)
	}
}

func addr(i uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], i)
	return netip.AddrFrom4(b)
}

func TestBuckets_AMillionDistinctAddressesStayUnderTheBound(t *testing.T) {
	t.Parallel()
	const bound = 10_000
	b, err := NewBuckets(1, 1, bound)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range uint32(1_000_000) {
		if !b.Allow(addr(i+1<<24), now) {
			t.Fatalf("address %d: a new client's first request refused", i)
		}
		if i%1024 == 0 && b.Len() > bound {
			t.Fatalf("after %d addresses %d buckets, bound %d", i+1, b.Len(), bound)
		}
	}
	if b.Len() != bound {
		t.Fatalf("%d buckets, want the bound %d", b.Len(), bound)
	}
	// The most recent clients are the ones remembered: still limited.
	if b.Allow(addr(1_000_000-1+1<<24), now) {
		t.Fatal("the latest client's empty bucket was forgotten")
	}
}

func TestBuckets_HasDoesNotTakeAToken(t *testing.T) {
	b, err := NewBuckets(1, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, now := netip.MustParseAddr("203.0.113.1"), time.Now()
	for range 5 {
		if !b.Has(a, now) {
			t.Fatal("Has took a token")
		}
	}
	b.Allow(a, now)
	b.Allow(a, now)
	if b.Has(a, now) {
		t.Fatal("empty bucket has a token")
	}
	if !b.Has(a, now.Add(time.Second)) {
		t.Fatal("not refilled")
	}
}

func TestNewBuckets_RefusesANonPositiveRate(t *testing.T) {
	if _, err := NewBuckets(0, 1, 1); err == nil {
		t.Fatal("accepted rate 0")
	}
}

func TestParsePrefixes_RejectsGarbageAndReadsNone(t *testing.T) {
	if _, err := ParsePrefixes([]string{"not-an-ip"}); err == nil {
		t.Fatal("accepted")
	}
	if p, err := ParsePrefixes([]string{"none"}); err != nil || len(p) != 0 {
		t.Fatalf("none: %v %v", p, err)
	}
}

// BenchmarkBuckets_DistinctAddresses reports the heap a full cache of
// DefaultMaxClients buckets holds (bytes/client) and the cost of a request
// from a new address when the cache is full (evicting).
//
//	go test -run '^$' -bench Buckets -benchmem ./services/web/internal/ratelimit
func BenchmarkBuckets_DistinctAddresses(b *testing.B) {
	bk, err := NewBuckets(20, 40, DefaultMaxClients)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var before, after runtimeMem
	before.read()
	for i := range uint32(DefaultMaxClients) {
		bk.Allow(addr(i+1<<24), now)
	}
	after.read()
	b.ResetTimer()
	for i := range uint32(b.N) {
		bk.Allow(addr(i+1<<25), now)
	}
	b.ReportMetric(float64(after.heap-before.heap)/DefaultMaxClients, "heap-bytes/client")
}

func BenchmarkBuckets_SameAddress(b *testing.B) {
	bk, err := NewBuckets(1e9, 1e9, DefaultMaxClients)
	if err != nil {
		b.Fatal(err)
	}
	a, now := netip.MustParseAddr("203.0.113.1"), time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bk.Allow(a, now)
		}
	})
}

type runtimeMem struct{ heap uint64 }

func (m *runtimeMem) read() {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.heap = s.HeapAlloc
}
