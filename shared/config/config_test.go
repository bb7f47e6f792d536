package config

import (
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Common
	Workers int           `env:"BOOKING_WORKERS"`
	TTL     time.Duration `env:"BOOKING_COMMAND_TTL"`
}

func (c *testConfig) Validate() error { return c.Common.Validate() }

func TestLoad_ReadsVariablesAndKeepsPresetDefaults(t *testing.T) {
	t.Setenv("BOOKING_WORKERS", "12")
	t.Setenv("AMQP_QUEUE_TYPE", "quorum")
	cfg := testConfig{TTL: time.Hour}
	cfg.Defaults("booking", ":8081")
	if err := Load(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Workers != 12 || cfg.AMQPQueueType != "quorum" || cfg.TTL != time.Hour || cfg.HTTPAddr != ":8081" {
		t.Fatalf("unexpected config %+v", cfg)
	}
	if !strings.Contains(cfg.DatabaseURL, "staybook_booking") {
		t.Fatalf("database default %q", cfg.DatabaseURL)
	}
}

func TestLoad_ErrorNamesTheBadVariable(t *testing.T) {
	for name, value := range map[string]string{
		"BOOKING_WORKERS":     "many",
		"BOOKING_COMMAND_TTL": "soon",
		"AMQP_QUEUE_TYPE":     "stream",
		"BOOKING_QUEUE_MAX":   "0",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, value)
			var cfg testConfig
			err := Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %v does not name %s", err, name)
			}
		})
	}
}

func TestDefaults_FillSharedDefaultsWithoutTheEnvironment(t *testing.T) {
	t.Setenv("PUBLISH_TIMEOUT", "9s") // must not leak into Defaults
	var c Common
	c.Defaults("web", ":8080")
	if c.PublishTimeout != 5*time.Second || c.AMQPQueueType != "classic" || c.BookingQueueMax != 100000 || c.HTTPAddr != ":8080" {
		t.Fatalf("%+v", c)
	}
}

func TestCheckSecrets_RefusePlaceholdersAndShortSecretsOutsideDevelopment(t *testing.T) {
	long := strings.Repeat("k", MinSecretBytes)
	for _, tc := range []struct {
		name   string
		secret Secret
		want   string // "" for no error
	}{
		{"placeholder", Secret{Name: "ADMIN_TOKEN", Value: "change-me-admin-token-and-long-enough-to-pass"}, "placeholder"},
		{"short", Secret{Name: "BOOKING_ID_SECRET", Value: long[1:]}, "shorter than the 32"},
		{"missing", Secret{Name: "NTFY_TOPIC_SECRET"}, "is not set"},
		{"optional and missing", Secret{Name: "LOADTEST_TOKEN", Optional: true}, ""},
		{"optional and short", Secret{Name: "LOADTEST_TOKEN", Value: "x", Optional: true}, "shorter"},
		{"good", Secret{Name: "ADMIN_TOKEN", Value: long}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Common
			c.Defaults("web", ":8080")
			err := c.CheckSecrets(tc.secret)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			// The message names the variable and says what to do.
			if err == nil || !strings.Contains(err.Error(), tc.secret.Name) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "openssl rand -hex 32") || !strings.Contains(err.Error(), "STAYBOOK_DEV=true") {
				t.Fatalf("error %v", err)
			}
			c.Development = true
			if err := c.CheckSecrets(tc.secret); err != nil {
				t.Fatalf("in development: %v", err)
			}
		})
	}
}

func TestValidate_RefusesAPlaceholderPasswordInTheBrokerOrDatabaseURL(t *testing.T) {
	for _, name := range []string{"AMQP_URL", "DATABASE_URL"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "amqp://staybook:change-me-password@rabbitmq:5672/")
			var cfg testConfig
			err := Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "placeholder") {
				t.Fatalf("error %v", err)
			}
			t.Setenv("STAYBOOK_DEV", "true")
			cfg = testConfig{}
			if err := Load(&cfg); err != nil {
				t.Fatalf("in development: %v", err)
			}
		})
	}
}

func TestLoadOver_ReturnsWhatWasReadEvenWithAnError(t *testing.T) {
	t.Setenv("HTTP_ADDR", ":9999")
	t.Setenv("BOOKING_WORKERS", "3")
	defaults := testConfig{TTL: time.Hour}
	defaults.Defaults("booking", ":8081")
	cfg, err := LoadOver(defaults)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":9999" || cfg.Workers != 3 || cfg.TTL != time.Hour {
		t.Fatalf("unexpected config %+v", cfg)
	}
	if defaults.HTTPAddr != ":8081" || defaults.Workers != 0 {
		t.Fatalf("defaults changed: %+v", defaults)
	}

	t.Setenv("AMQP_QUEUE_TYPE", "stream")
	cfg, err = LoadOver(defaults)
	if err == nil || !strings.Contains(err.Error(), "AMQP_QUEUE_TYPE") {
		t.Fatalf("err = %v, want one naming AMQP_QUEUE_TYPE", err)
	}
	if cfg.HTTPAddr != ":9999" {
		t.Fatalf("HTTP_ADDR %q not kept beside the error", cfg.HTTPAddr)
	}
}
