package main

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig_SuitsALocalRun(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig() // what LoadConfig starts from: no environment read
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8083" || cfg.SMTPAddr != "localhost:1025" || cfg.SMTPTLS != "none" ||
		cfg.VoucherURL != "http://localhost:8082" || cfg.EmailFrom != "Staybook <bookings@staybook.local>" ||
		cfg.Workers != 8 || cfg.ExtraLatency != 0 ||
		!strings.HasSuffix(cfg.DatabaseURL, "/staybook_email?sslmode=disable") {
		t.Errorf("defaults: %+v", cfg)
	}
	r := cfg.Retry
	if r.MaxAttempts != 6 || r.InitialInterval != 500*time.Millisecond || r.Multiplier != 2 ||
		r.MaxInterval != 10*time.Second || r.RandomizationFactor != 0.2 {
		t.Errorf("retry policy: %+v", r)
	}
}

func TestLoadConfig_ReadsTheEnvironment(t *testing.T) {
	t.Setenv("SMTP_ADDR", "smtp.example.com:587")
	t.Setenv("SMTP_TLS", "starttls")
	t.Setenv("EMAIL_WORKERS", "5")
	t.Setenv("EMAIL_EXTRA_LATENCY", "500ms")
	t.Setenv("SEND_CONFIRMATION_EMAIL_MAX_ATTEMPTS", "9")
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTPAddr != "smtp.example.com:587" || cfg.SMTPTLS != "starttls" || cfg.Workers != 5 ||
		cfg.ExtraLatency != 500*time.Millisecond || cfg.Retry.MaxAttempts != 9 {
		t.Errorf("config: %+v", cfg)
	}
}

func TestLoadConfig_NamesEveryBadVariable(t *testing.T) {
	t.Setenv("SMTP_TLS", "ssl")
	t.Setenv("EMAIL_WORKERS", "0")
	t.Setenv("EMAIL_FROM", "nobody")
	_, err := LoadConfig()
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, name := range []string{"SMTP_TLS", "EMAIL_WORKERS", "EMAIL_FROM"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
