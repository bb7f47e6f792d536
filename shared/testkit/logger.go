package testkit

import (
	"log/slog"
	"os"
	"testing"
)

// Logger is the logger for the code under test: quiet, and with go test -v
// a text log on stderr from level up.
func Logger(level slog.Level) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.DiscardHandler)
}
