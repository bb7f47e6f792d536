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
