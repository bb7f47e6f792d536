package servicekit_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/testkit"
)

// An operator endpoint registered on the internal mux is served on the
// internal listener and never on the public one.
func TestInternalMux_ServesOnTheInternalListenerOnly(t *testing.T) {
	c := commonConfig(t, testkit.Vhost(t))
	c.InternalAddr = testkit.FreeAddr(t)
	svc := run(t, c, func(svc *servicekit.Service) {
		mux := svc.InternalMux()
		if mux == nil {
			t.Fatal("no internal mux with INTERNAL_ADDR set")
		}
		mux.HandleFunc("GET /operator", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "operator") })
	})
	if code, body := get(t, "http://"+svc.InternalAddr()+"/operator"); code != http.StatusOK || body != "operator" {
		t.Fatalf("internal listener: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+svc.Addr()+"/operator"); code != http.StatusNotFound {
		t.Fatalf("public listener serves the operator endpoint: %d", code)
	}
}

func TestInternalMux_NilWithoutAnInternalListener(t *testing.T) {
	svc, err := servicekit.New(context.Background(), servicekit.Options{
		Name: "kittest", Config: commonConfig(t, testkit.Vhost(t)), Logger: slog.New(slog.DiscardHandler),
	})
	testkit.Must(t, err)
	defer svc.Close()
	if svc.InternalMux() != nil {
		t.Fatal("an internal mux without INTERNAL_ADDR")
	}
}
