package service

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
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !cfg.UsesDevSecret() {
		t.Fatal("the default secret is not recognised as the development one")
	}
}

// Not parallel: it sets environment variables.
func TestLoad_BadValuesNameTheirVariable(t *testing.T) {
	cases := map[string]string{
		"BOOKING_TRANSPORT":    "carrier-pigeon",
		"BOOKING_ID_NAMESPACE": "not-a-uuid",
		"BOOKING_ID_SECRET":    "short",
		"CATALOGUE_TTL":        "soon",
		"BOOKING_RETRY_AFTER":  "0",
		"MAX_BODY_BYTES":       "-1",
		"BOOKING_URL":          "localhost:8081",
		"VOUCHER_URL":          "ftp://x",
		"DEADLETTERS_URL":      "deadletters:8085",
		"JAEGER_QUERY_URL":     "http://",
		"JAEGER_UI_URL":        "jaeger",
		"TRUSTED_ORIGINS":      "https://shop.example/path",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
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
		t.Setenv("BOOKING_ID_SECRET", "a-production-secret-of-length")
		cfg := DefaultConfig()
		if err := config.Load(&cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.BookingTransport != "direct" || cfg.CatalogueTTL != 5*time.Second || cfg.UsesDevSecret() {
			t.Fatalf("%+v", cfg)
		}
	})
}
