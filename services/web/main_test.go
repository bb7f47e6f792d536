package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/staybook/staybook/shared/telemetry"
)

// TestMain fails the package's tests if any of them leaves a goroutine
// running. The idle keep-alive connections of http.DefaultClient (used by
// testkit and the tests' own requests) are closed first: they are not leaks.
func TestMain(m *testing.M) {
	// Tracing as in production, exporting nothing (no OTLP endpoint is
	// set): requests get trace IDs, and the answers carry them.
	if _, err := telemetry.Setup(context.Background(), "web"); err != nil {
		fmt.Fprintln(os.Stderr, "telemetry:", err)
		os.Exit(1)
	}
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		// watermill-amqp's connection-close watcher is not joined by the
		// wrapper's Close, so it may still be on its way out here.
		amqpWatcher := goleak.IgnoreTopFunction("github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp.(*ConnectionWrapper).handleConnectionClose")
		if err := goleak.Find(amqpWatcher); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
