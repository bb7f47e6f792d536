package faults_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/faults"
)

func TestDelay_EndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- faults.Delay(ctx, time.Hour) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Delay after cancel: %v, want context.Canceled", err)
	}
}

func TestDelay_WaitsAtLeastTheDuration(t *testing.T) {
	start := time.Now()
	if err := faults.Delay(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("waited %s, want at least 20ms", waited)
	}
	if err := faults.Delay(context.Background(), 0); err != nil {
		t.Fatalf("no delay: %v", err)
	}
}
