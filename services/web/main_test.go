package main

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/staybook/staybook/shared/telemetry"
	"github.com/staybook/staybook/shared/testkit"
)

// TestMain fails the package's tests if any of them leaves a goroutine
// running.
func TestMain(m *testing.M) {
	// Tracing as in production, exporting nothing (no OTLP endpoint is
	// set): requests get trace IDs, and the answers carry them.
	if _, err := telemetry.Setup(context.Background(), "web"); err != nil {
		fmt.Fprintln(os.Stderr, "telemetry:", err)
		os.Exit(1)
	}
	// watermill-amqp's connection-close watcher is not joined by the
	// wrapper's Close, so it may still be on its way out at the end.
	testkit.VerifyNoLeaks(m, goleak.IgnoreTopFunction("github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp.(*ConnectionWrapper).handleConnectionClose"))
}
