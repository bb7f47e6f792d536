package main

import (
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/config"
)

func TestDefaultConfig_HasTheDocumentedDefaults(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	if cfg.HTTPAddr != ":8080" || cfg.BookingURL != "http://localhost:8081" || cfg.VoucherURL != "http://localhost:8082" ||
		cfg.BookingTransport != "queue" || cfg.BookingIDNamespace != DefaultBookingIDNamespace ||
		cfg.BookingIDSecret != DevBookingIDSecret || cfg.CatalogueTTL != 30*time.Second ||
		cfg.BookingRetryAfter != 1 || cfg.MaxBodyBytes != 16384 || cfg.AMQPQueueType != "classic" {
		t.Fatalf("defaults %+v", cfg)
	}
	if !cfg.UsesDevSecret() {
		t.Fatal("the default secret is not recognised as the development one")
	}
	// The defaults are development values: refused unless STAYBOOK_DEV says so.
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "BOOKING_ID_SECRET") {
		t.Fatalf("the development secret accepted outside development: %v", err)
	}
	cfg.Development = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Not parallel: it sets environment variables.
func TestLoad_RefusesPlaceholderAndShortSecretsOutsideDevelopment(t *testing.T) {
	good := strings.Repeat("s", config.MinSecretBytes)
	for _, tc := range []struct{ name, value, want string }{
		{"BOOKING_ID_SECRET", "", "is not set"},
		{"BOOKING_ID_SECRET", "change-me-booking-id-secret-0123456789", "placeholder"},
		{"BOOKING_ID_SECRET", good[:31], "shorter"},
		{"ADMIN_TOKEN", "change-me-admin-token", "placeholder"},
		{"ADMIN_TOKEN", "admin", "shorter"},
		{"LOADTEST_TOKEN", "change-me-loadtest-token", "placeholder"},
	} {
		t.Run(tc.name+" "+tc.want, func(t *testing.T) {
			t.Setenv("BOOKING_ID_SECRET", good)
			t.Setenv(tc.name, tc.value)
			cfg := DefaultConfig()
			err := config.Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), tc.name+": ") || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "openssl rand -hex 32") {
				t.Fatalf("%s=%q: error %v", tc.name, tc.value, err)
			}
			t.Setenv("STAYBOOK_DEV", "true")
			cfg = DefaultConfig()
			if err := config.Load(&cfg); err != nil && tc.value != "admin" && tc.value != good[:31] {
				t.Fatalf("in development: %v", err)
			}
		})
	}
	t.Run("real secrets", func(t *testing.T) {
		t.Setenv("BOOKING_ID_SECRET", good)
		t.Setenv("ADMIN_TOKEN", good+"a")
		t.Setenv("LOADTEST_TOKEN", good+"b")
		cfg := DefaultConfig()
		if err := config.Load(&cfg); err != nil {
			t.Fatal(err)
		}
	})
}

// Not parallel: it sets environment variables.
func TestLoad_BadValuesNameTheirVariable(t *testing.T) {
	cases := map[string]string{
		"BOOKING_TRANSPORT":          "carrier-pigeon",
		"BOOKING_ID_NAMESPACE":       "not-a-uuid",
		"BOOKING_ID_SECRET":          "short",
		"CATALOGUE_TTL":              "soon",
		"BOOKING_RETRY_AFTER":        "0",
		"MAX_BODY_BYTES":             "-1",
		"BOOKING_URL":                "localhost:8081",
		"VOUCHER_URL":                "ftp://x",
		"DEADLETTERS_URL":            "deadletters:8085",
		"JAEGER_QUERY_URL":           "http://",
		"JAEGER_UI_URL":              "jaeger",
		"TRUSTED_ORIGINS":            "https://shop.example/path",
		"TRUSTED_PROXIES":            "nginx",
		"RATE_LIMIT_EXEMPT":          "loopback",
		"RATE_LIMIT_MAX_CLIENTS":     "0",
		"CLIENT_ADDRESS_HEADER":      "X Real IP",
		"SSE_MAX_STREAMS":            "0",
		"SSE_MAX_STREAMS_PER_CLIENT": "0",
		"SSE_MAX_LIFETIME":           "10ms",
		"ADMIN_MAX_FAILURES":         "0",
		"ADMIN_FAILURE_WINDOW":       "0s",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv("STAYBOOK_DEV", "true")
			t.Setenv(name, value)
			cfg := DefaultConfig()
			err := config.Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%s: error %v does not name the variable", name, value, err)
			}
		})
	}
	t.Run("good values", func(t *testing.T) {
		t.Setenv("BOOKING_TRANSPORT", "direct")
		t.Setenv("CATALOGUE_TTL", "5s")
		t.Setenv("BOOKING_ID_SECRET", "a-production-secret-of-32-bytes-or-more")
		cfg := DefaultConfig()
		if err := config.Load(&cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.BookingTransport != "direct" || cfg.CatalogueTTL != 5*time.Second || cfg.UsesDevSecret() {
			t.Fatalf("%+v", cfg)
		}
	})
}
