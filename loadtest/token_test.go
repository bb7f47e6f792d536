package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDotEnvValue_ReadsTheKeyAsComposeWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte("# comment\nADMIN_TOKEN=x\nLOADTEST_TOKEN=\"0123abcd\"\nOTHER=y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := dotEnvValue(path, "LOADTEST_TOKEN"); got != "0123abcd" {
		t.Fatalf("got %q", got)
	}
	if got := dotEnvValue(path, "MISSING"); got != "" {
		t.Fatalf("missing key: %q", got)
	}
	if got := dotEnvValue(filepath.Join(t.TempDir(), "none"), "LOADTEST_TOKEN"); got != "" {
		t.Fatalf("missing file: %q", got)
	}
}
