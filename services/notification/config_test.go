package main

import (
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/ports"
)

// Not parallel: t.Setenv.
func TestLoadConfig_DefaultsSuitALocalRun(t *testing.T) {
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":8084" || cfg.Workers != 2 || cfg.NtfyURL != "" || len(cfg.WebhookURLs) != 0 ||
		cfg.NtfyTopicPrefix != "staybook-" || cfg.ExtraLatency != 0 || cfg.AMQPQueueType != "classic" {
		t.Fatalf("defaults %+v", cfg)
	}
	for _, name := range ports.HandlerNames {
		p := cfg.Policies[name]
		if p.OnExhausted != messaging.ExhaustedDiscard || p.MaxAttempts != 4 || p.InitialInterval != 200*time.Millisecond || p.Multiplier != 2 {
			t.Errorf("%s policy %+v", name, p)
		}
	}
}

func TestLoadConfig_ReadsTheEnvironment(t *testing.T) {
	t.Setenv("NTFY_URL", "http://ntfy:80")
	t.Setenv("NTFY_TOPIC_SECRET", "a-long-enough-secret-0123456789abcdef")
	t.Setenv("NOTIFY_WEBHOOK_URLS", "http://a/hook, http://b/hook")
	t.Setenv("NOTIFICATION_WORKERS", "5")
	t.Setenv("NOTIFICATION_EXTRA_LATENCY", "1s")
	t.Setenv("NOTIFY_EMAIL_SENT_MAX_ATTEMPTS", "2")
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NtfyURL != "http://ntfy:80" || len(cfg.WebhookURLs) != 2 || cfg.Workers != 5 || cfg.ExtraLatency != time.Second ||
		cfg.Policies[ports.HandlerEmailSent].MaxAttempts != 2 || cfg.Policies[ports.HandlerBookingConfirmed].MaxAttempts != 4 {
		t.Fatalf("config %+v", cfg)
	}
}

func TestLoadConfig_ErrorsNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"NOTIFICATION_WORKERS":                  {"NOTIFICATION_WORKERS": "many"},
		"NTFY_TOPIC_SECRET":                     {"NTFY_URL": "http://ntfy:80"},
		"NTFY_URL":                              {"NTFY_URL": "ntfy:80", "NTFY_TOPIC_SECRET": "a-long-enough-secret-0123456789abcdef"},
		"NOTIFY_WEBHOOK_URLS":                   {"NOTIFY_WEBHOOK_URLS": "http://a/hook,ftp://b"},
		"NOTIFY_BOOKING_REJECTED_ON_EXHAUSTED":  {"NOTIFY_BOOKING_REJECTED_ON_EXHAUSTED": "drop"},
		"NOTIFICATION_EXTRA_LATENCY":            {"NOTIFICATION_EXTRA_LATENCY": "-1s"},
		"NOTIFY_BOOKING_CONFIRMED_MAX_ATTEMPTS": {"NOTIFY_BOOKING_CONFIRMED_MAX_ATTEMPTS": "0"},
	}
	for want, vars := range cases {
		t.Run(want, func(t *testing.T) {
			for k, v := range vars {
				t.Setenv(k, v)
			}
			_, err := LoadConfig()
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want one naming %s", err, want)
			}
		})
	}
}

func TestLoadConfig_RefusesAPlaceholderOrShortTopicSecretOutsideDevelopment(t *testing.T) {
	for value, want := range map[string]string{
		"change-me-ntfy-topic-secret-0123456789": "placeholder",
		"only-twenty-bytes...":                   "shorter than the 32",
	} {
		t.Run(want, func(t *testing.T) {
			t.Setenv("NTFY_URL", "http://ntfy:80")
			t.Setenv("NTFY_TOPIC_SECRET", value)
			_, err := LoadConfig()
			if err == nil || !strings.Contains(err.Error(), "NTFY_TOPIC_SECRET") || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v", err)
			}
			t.Setenv("STAYBOOK_DEV", "true")
			if _, err := LoadConfig(); err != nil {
				t.Fatalf("in development: %v", err)
			}
		})
	}
}
