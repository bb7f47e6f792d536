package config

import (
	"testing"
	"time"
)

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for nil
	}{
		{"int below", AtLeast("BOOKING_WORKERS", 0, 1), "BOOKING_WORKERS: 0 must be at least 1"},
		{"int at", AtLeast("BOOKING_WORKERS", 1, 1), ""},
		{"int32 below", AtLeast[int32]("BOOKING_DB_MAX_CONNS", 1, 2), "BOOKING_DB_MAX_CONNS: 1 must be at least 2"},
		{"int64 below", AtLeast[int64]("MAX_BODY_BYTES", 255, 256), "MAX_BODY_BYTES: 255 must be at least 256"},
		{"duration below", AtLeast("SSE_MAX_LIFETIME", 999*time.Millisecond, time.Second), "SSE_MAX_LIFETIME: 999ms must be at least 1s"},
		{"duration above", AtLeast("SSE_MAX_LIFETIME", time.Minute, time.Second), ""},
		{"zero duration", Positive("OUTBOX_POLL_INTERVAL", time.Duration(0)), "OUTBOX_POLL_INTERVAL: 0s must be positive"},
		{"negative duration", Positive("PUBLISH_TIMEOUT", -time.Second), "PUBLISH_TIMEOUT: -1s must be positive"},
		{"positive duration", Positive("PUBLISH_TIMEOUT", time.Nanosecond), ""},
		{"zero int", Positive("N", 0), "N: 0 must be positive"},
		{"negative duration not allowed", NotNegative("BOOKING_COMMAND_TTL", -time.Nanosecond), "BOOKING_COMMAND_TTL: -1ns must not be negative"},
		{"zero duration allowed", NotNegative("BOOKING_COMMAND_TTL", time.Duration(0)), ""},
		{"negative float", NotNegative("RATE_LIMIT_RPS", -0.5), "RATE_LIMIT_RPS: -0.5 must not be negative"},
		{"zero float", NotNegative("RATE_LIMIT_RPS", 0.0), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if tc.err != nil {
				got = tc.err.Error()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
