package app_test

import (
	"testing"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/app/apptest"
)

func TestHub_DeliversOnlyToSubscribersOfTheBooking(t *testing.T) {
	t.Parallel()
	h := app.NewHub()
	a1, a2, b := h.Subscribe("a"), h.Subscribe("a"), h.Subscribe("b")
	if n := h.Publish(apptest.Status("a", 1)); n != 2 {
		t.Fatalf("delivered to %d, want 2", n)
	}
	for _, s := range []*app.Subscription{a1, a2} {
		if ev := apptest.Take(t, s); ev.BookingID != "a" || ev.Version != 1 {
			t.Fatalf("got %+v", ev)
		}
	}
	select {
	case <-b.Ready():
		t.Fatal("b got a's event")
	default:
	}
	a1.Close()
	if n := h.Publish(apptest.Status("a", 2)); n != 1 {
		t.Fatalf("delivered to %d after close, want 1", n)
	}
	if h.Subscribers() != 2 {
		t.Fatalf("subscribers %d", h.Subscribers())
	}
}

func TestHub_ASlowReaderGetsTheNewestStateAndNeverAnOlderOne(t *testing.T) {
	t.Parallel()
	h := app.NewHub()
	s := h.Subscribe("a")
	h.Publish(apptest.Status("a", 1))
	h.Publish(apptest.Status("a", 3))
	h.Publish(apptest.Status("a", 2)) // out of order: older than what waits
	if ev := apptest.Take(t, s); ev.Version != 3 {
		t.Fatalf("got version %d, want 3", ev.Version)
	}
	if _, ok := s.Take(); ok {
		t.Fatal("a second event was left")
	}
}

func TestHub_CloseEndsEverySubscription(t *testing.T) {
	t.Parallel()
	h := app.NewHub()
	s := h.Subscribe("a")
	h.Close()
	select {
	case <-s.Done():
	default:
		t.Fatal("subscription not done after hub close")
	}
	late := h.Subscribe("b")
	select {
	case <-late.Done():
	default:
		t.Fatal("subscription after close is not done")
	}
	h.Close() // idempotent
	s.Close()
}
