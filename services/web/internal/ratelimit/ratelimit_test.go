package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func limiter(t *testing.T, exempt, proxies []string) *Limiter {
	ex, err := ParsePrefixes(exempt)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ParsePrefixes(proxies)
	if err != nil {
		t.Fatal(err)
	}
	l := New(Config{RPS: 2, Burst: 3, Exempt: ex, TrustedProxies: tp, Paths: []string{"/api/", "/bookings"}})
	start := time.Now()
	l.now = func() time.Time { return start } // the clock stands still: no refill
	return l
}

func hit(h http.Handler, path, remote, xff string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestLimiter_BurstThen429PerClient(t *testing.T) {
	h := limiter(t, nil, nil).Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for i := range 3 {
		if w := hit(h, "/api/bookings", "203.0.113.7:4000", ""); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := hit(h, "/api/bookings", "203.0.113.7:4001", "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("4th: %d %v", w.Code, w.Header())
	}
	if w := hit(h, "/api/bookings", "203.0.113.8:4000", ""); w.Code != 200 {
		t.Fatalf("another client limited: %d", w.Code)
	}
	if w := hit(h, "/healthz", "203.0.113.7:4000", ""); w.Code != 200 {
		t.Fatalf("unlimited path: %d", w.Code)
	}
}

func TestLimiter_ExemptNetworksAndTrustedProxies(t *testing.T) {
	h := limiter(t, []string{"127.0.0.0/8", "::1"}, []string{"10.0.0.0/8"}).Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 10 {
		if w := hit(h, "/api/bookings", "127.0.0.1:5000", ""); w.Code != 200 {
			t.Fatalf("loopback limited: %d", w.Code)
		}
	}
	// Behind the load balancer, clients are told apart by X-Forwarded-For.
	for range 3 {
		hit(h, "/api/bookings", "10.1.2.3:80", "198.51.100.1")
	}
	if w := hit(h, "/api/bookings", "10.1.2.3:80", "198.51.100.1"); w.Code != 429 {
		t.Fatalf("forwarded client not limited: %d", w.Code)
	}
	if w := hit(h, "/api/bookings", "10.1.2.3:80", "198.51.100.2"); w.Code != 200 {
		t.Fatalf("other forwarded client limited: %d", w.Code)
	}
	// An untrusted sender cannot pick its identity.
	for range 3 {
		hit(h, "/api/bookings", "192.0.2.9:80", "198.51.100.50")
	}
	if w := hit(h, "/api/bookings", "192.0.2.9:80", "198.51.100.51"); w.Code != 429 {
		t.Fatalf("spoofed X-Forwarded-For escaped the limit: %d", w.Code)
	}
}

func TestParsePrefixes_RejectsGarbage(t *testing.T) {
	if _, err := ParsePrefixes([]string{"not-an-ip"}); err == nil {
		t.Fatal("accepted")
	}
}
