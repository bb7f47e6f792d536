package main

import (
	"strings"
	"testing"

	"github.com/staybook/staybook/shared/config"
)

// Not parallel: t.Setenv.
func TestLoad_RefusesAPlaceholderOrShortAdminTokenOutsideDevelopment(t *testing.T) {
	for value, want := range map[string]string{
		"change-me-admin-token-0123456789abcdef": "placeholder",
		"dev-admin-token":                        "shorter than the 32",
	} {
		t.Run(want, func(t *testing.T) {
			t.Setenv("ADMIN_TOKEN", value)
			cfg := DefaultConfig()
			err := config.Load(&cfg)
			if err == nil || !strings.Contains(err.Error(), "ADMIN_TOKEN") || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v", err)
			}
			t.Setenv("STAYBOOK_DEV", "true")
			cfg = DefaultConfig()
			if err := config.Load(&cfg); err != nil {
				t.Fatalf("in development: %v", err)
			}
		})
	}
	t.Run("no token: the admin API is off", func(t *testing.T) {
		t.Setenv("ADMIN_TOKEN", "")
		cfg := DefaultConfig()
		if err := config.Load(&cfg); err != nil {
			t.Fatal(err)
		}
	})
}
