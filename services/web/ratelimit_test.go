package main

import (
	"net/http"
	"testing"

	"github.com/staybook/staybook/shared/testkit"
)

func TestPublicAPI_IsRateLimitedPerClientUnlessExempt(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.RateLimitRPS, cfg.RateLimitBurst, cfg.RateLimitExempt = 0.5, 2, nil // loopback not exempt here
	w := startWeb(t, cfg)
	codes := []int{}
	for range 3 {
		codes = append(codes, w.get(t, "/api/hotels").status)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Fatalf("statuses %v, want 200 200 429", codes)
	}
	if r := w.get(t, "/healthz"); r.status != 200 {
		t.Fatalf("health check limited: %d", r.status)
	}

	exempt := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	exempt.RateLimitRPS, exempt.RateLimitBurst = 0.5, 2 // default exemption: loopback
	we := startWeb(t, exempt)
	for i := range 10 {
		if r := we.get(t, "/api/hotels"); r.status != 200 {
			t.Fatalf("loopback request %d limited: %d", i, r.status)
		}
	}
}
