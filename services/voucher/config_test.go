package main

import (
	"strings"
	"testing"
	"time"
)

// These tests set environment variables, so they do not run in parallel.

func TestLoadConfig_Defaults(t *testing.T) {
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8082" || c.Workers != 8 || c.ExtraLatency != 0 || c.MaxConcurrentRenders != 0 ||
		c.DatabaseURL != "postgres://postgres@localhost:5432/staybook_voucher?sslmode=disable" || c.Policy.MaxAttempts != 5 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadConfig_ReadsTheServicesVariables(t *testing.T) {
	t.Setenv("VOUCHER_WORKERS", "4")
	t.Setenv("VOUCHER_EXTRA_LATENCY", "1s")
	t.Setenv("VOUCHER_MAX_CONCURRENT_RENDERS", "3")
	t.Setenv("CREATE_VOUCHER_MAX_ATTEMPTS", "7")
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 4 || c.ExtraLatency != time.Second || c.MaxConcurrentRenders != 3 || c.Policy.MaxAttempts != 7 {
		t.Fatalf("got workers %d, latency %s, max renders %d, attempts %d", c.Workers, c.ExtraLatency, c.MaxConcurrentRenders, c.Policy.MaxAttempts)
	}
}

func TestLoadConfig_ErrorsNameTheVariable(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"VOUCHER_WORKERS", "two", "VOUCHER_WORKERS"},
		{"VOUCHER_WORKERS", "0", "VOUCHER_WORKERS"},
		{"VOUCHER_EXTRA_LATENCY", "1 second", "VOUCHER_EXTRA_LATENCY"},
		{"VOUCHER_EXTRA_LATENCY", "-1s", "VOUCHER_EXTRA_LATENCY"},
		{"VOUCHER_EXTRA_LATENCY", "45s", "CREATE_VOUCHER_TIMEOUT"}, // longer than an attempt may last
		{"VOUCHER_MAX_CONCURRENT_RENDERS", "-1", "VOUCHER_MAX_CONCURRENT_RENDERS"},
		{"CREATE_VOUCHER_MAX_ATTEMPTS", "0", "CREATE_VOUCHER_MAX_ATTEMPTS"},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			t.Setenv(c.name, c.value)
			_, err := LoadConfig()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %s", err, c.want)
			}
		})
	}
}
