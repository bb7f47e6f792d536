package servicekit_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/testkit"
)

func newService(t *testing.T, metricsAddr string) *servicekit.Service {
	t.Helper()
	var cfg config.Common
	cfg.Defaults("kittest", "127.0.0.1:0")
	cfg.AMQPURL = testkit.Vhost(t)
	cfg.MetricsAddr = metricsAddr
	svc, err := servicekit.New(context.Background(), servicekit.Options{
		Name: "kittest", Config: cfg, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func run(t *testing.T, svc *servicekit.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		svc.Close()
	})
	select {
	case <-svc.Running():
	case err := <-done:
		t.Fatalf("Run returned at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not running after 20s")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// An operator endpoint registered on the internal mux is served on the
// internal listener and never on the public one.
func TestInternalMux_ServesOnTheInternalListenerOnly(t *testing.T) {
	svc := newService(t, testkit.FreeAddr(t))
	mux := svc.InternalMux()
	if mux == nil {
		t.Fatal("no internal mux with METRICS_ADDR set")
	}
	mux.HandleFunc("GET /operator", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "operator") })
	run(t, svc)
	if code, body := get(t, "http://"+svc.InternalAddr()+"/operator"); code != http.StatusOK || body != "operator" {
		t.Fatalf("internal listener: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+svc.Addr()+"/operator"); code != http.StatusNotFound {
		t.Fatalf("public listener serves the operator endpoint: %d", code)
	}
}

func TestInternalMux_NilWithoutAnInternalListener(t *testing.T) {
	svc := newService(t, "")
	defer svc.Close()
	if svc.InternalMux() != nil || svc.InternalAddr() != "" {
		t.Fatalf("internal mux %v at %q without METRICS_ADDR", svc.InternalMux(), svc.InternalAddr())
	}
}
