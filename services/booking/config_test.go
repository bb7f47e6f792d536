package main

import (
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/config"
)

// These tests set environment variables, so they do not run in parallel.

func TestConfig_DefaultsAreValid(t *testing.T) {
	c := DefaultConfig()
	if err := config.Load(&c); err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8081" || c.Workers != 8 || c.TaskWorkers != 4 || c.DBMaxConns != 16 || c.CommandTTL != time.Hour ||
		c.OutboxPoll != 2*time.Second || c.DirectTimeout != 30*time.Second || c.Failpoint != "" ||
		c.DatabaseURL != "postgres://postgres@localhost:5432/staybook_booking?sslmode=disable" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfig_ReadsTheServicesVariables(t *testing.T) {
	for k, v := range map[string]string{
		"BOOKING_WORKERS": "3", "BOOKING_TASK_WORKERS": "5", "BOOKING_DB_MAX_CONNS": "2", "BOOKING_COMMAND_TTL": "0s", "BOOKING_TX_DELAY": "5ms",
		"OUTBOX_POLL_INTERVAL": "1s", "DIRECT_TIMEOUT": "2s", "VOUCHER_URL": "http://v", "EMAIL_URL": "http://e",
		"NOTIFICATION_URL": "http://n", "STAYBOOK_FAILPOINT": "booking.after_commit",
	} {
		t.Setenv(k, v)
	}
	c := DefaultConfig()
	if err := config.Load(&c); err != nil {
		t.Fatal(err)
	}
	if c.Workers != 3 || c.TaskWorkers != 5 || c.DBMaxConns != 2 || c.CommandTTL != 0 || c.TransactionDelay != 5*time.Millisecond ||
		c.OutboxPoll != time.Second || c.DirectTimeout != 2*time.Second || c.VoucherURL != "http://v" ||
		c.EmailURL != "http://e" || c.NotificationURL != "http://n" || c.Failpoint != "booking.after_commit" {
		t.Fatalf("got %+v", c)
	}
}

// Each bad value is refused, on its own, with an error naming its variable;
// the smallest good value next to it is accepted.
func TestConfig_ErrorsNameTheVariable(t *testing.T) {
	cases := []struct{ name, bad, good string }{
		{"BOOKING_WORKERS", "0", "1"},
		{"BOOKING_TASK_WORKERS", "0", "1"},
		{"BOOKING_DB_MAX_CONNS", "1", "2"},
		{"BOOKING_COMMAND_TTL", "-1s", "0s"},
		{"OUTBOX_POLL_INTERVAL", "0s", "1ms"},
		{"STAYBOOK_FAILPOINT", "booking.before_commit", ""},
		{"AMQP_QUEUE_TYPE", "stream", "quorum"}, // the shared part is checked too
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(c.name, c.bad)
			cfg := DefaultConfig()
			err := config.Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("%s=%s: err = %v, want one naming %s", c.name, c.bad, err, c.name)
			}
			t.Setenv(c.name, c.good)
			cfg = DefaultConfig()
			if err := config.Load(&cfg); err != nil {
				t.Fatalf("%s=%s refused: %v", c.name, c.good, err)
			}
		})
	}
}
