package ports

import (
	"context"
	"log/slog"
	"testing"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/app/apptest"
)

func TestRelayHandler_PassesStatusChangesAndDropsMalformedMessages(t *testing.T) {
	t.Parallel()
	h := app.NewHub()
	s := h.Subscribe("a")
	malformed := 0
	relay := RelayHandler(RelayConfig{Hub: h, Logger: slog.New(slog.DiscardHandler), Malformed: func() { malformed++ }})

	msg, err := contracts.NewMessage(context.Background(), apptest.Status("a", 4), "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := relay(msg); err != nil {
		t.Fatal(err)
	}
	if ev := apptest.Take(t, s); ev.Version != 4 {
		t.Fatalf("got %+v", ev)
	}

	other, err := contracts.NewMessage(context.Background(), contracts.BookRoom{BookingID: "a"}, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := relay(other); err != nil {
		t.Fatalf("malformed message returned %v, want it dropped", err)
	}
	if malformed != 1 {
		t.Fatalf("malformed count %d", malformed)
	}
	if _, ok := s.Take(); ok {
		t.Fatal("malformed message reached the subscription")
	}
}
