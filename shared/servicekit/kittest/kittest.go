// Package kittest runs a service built on the kit for one test.
package kittest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/servicekit"
)

// Running is a service that runs until Stop or the end of its test.
type Running struct {
	*servicekit.Service
	stop func() error
}

// Start builds the service as its binary does (p.New), runs it, and returns
// once it consumes every queue (within 30 s, or the test fails). At the end
// of the test it is stopped and closed; a Run that ends with an error fails
// the test.
func Start[C servicekit.Configuration](t testing.TB, p servicekit.Program[C], cfg C, log *slog.Logger) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := p.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("build %s: %v", p.Name, err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	r := &Running{Service: svc}
	r.stop = sync.OnceValue(func() error {
		cancel()
		err := <-done
		svc.Close()
		return err
	})
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("%s stopped with %v", p.Name, err)
		}
	})
	select {
	case <-svc.Running():
	case err := <-done:
		t.Fatalf("%s stopped at start: %v", p.Name, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not consuming within 30s", p.Name)
	}
	return r
}

// Stop stops the service now, as SIGTERM would (requests and messages in
// flight drain), closes it and returns what Run returned. Later calls
// return the same.
func (r *Running) Stop() error { return r.stop() }
