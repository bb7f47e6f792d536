package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/adapters"
	"github.com/staybook/staybook/services/notification/internal/domain"
	"github.com/staybook/staybook/services/notification/internal/ntfytest"
)

func TestNtfy_PublishesMessageWithTitleTagsPriorityClickAndToken(t *testing.T) {
	t.Parallel()
	srv := ntfytest.New(t)
	c, err := adapters.NewNtfy(adapters.NtfyConfig{URL: srv.URL + "/", Token: "tk_test"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Push(context.Background(), "staybook-0123456789abcdef", domain.Push{
		Title: "Réservation confirmée", Message: "Your booking at Hôtel Ritz is confirmed.",
		Tags: []string{"white_check_mark", "hotel"}, Priority: "high", Click: "http://localhost:8080/bookings/b1",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if m.Topic != "staybook-0123456789abcdef" || m.Title != "Réservation confirmée" || m.Message != "Your booking at Hôtel Ritz is confirmed." ||
		strings.Join(m.Tags, ",") != "white_check_mark,hotel" || m.Priority != "high" ||
		m.Click != "http://localhost:8080/bookings/b1" || m.Authorization != "Bearer tk_test" {
		t.Fatalf("received %+v", m)
	}
}

func TestNtfy_ServerErrorIsTransientAndClientErrorPermanent(t *testing.T) {
	t.Parallel()
	srv := ntfytest.New(t)
	c, err := adapters.NewNtfy(adapters.NtfyConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for status, permanent := range map[int]bool{500: false, 503: false, 429: false, 403: true, 413: true} {
		srv.FailWith(status)
		err := c.Push(context.Background(), "staybook-topic", domain.Push{Message: "m"})
		if err == nil || messaging.IsPermanent(err) != permanent {
			t.Errorf("status %d: err %v, permanent %v, want %v", status, err, messaging.IsPermanent(err), permanent)
		}
		if err != nil && strings.Contains(err.Error(), "staybook-topic") {
			t.Errorf("error names the topic: %v", err)
		}
	}
}

func TestNtfy_RejectsAURLThatIsNotHTTP(t *testing.T) {
	t.Parallel()
	if _, err := adapters.NewNtfy(adapters.NtfyConfig{URL: "ntfy.sh"}); err == nil || !strings.Contains(err.Error(), "NTFY_URL") {
		t.Fatalf("err %v", err)
	}
}

func TestWebhooks_PostsJSONAndTreatsNon2xxAsTransient(t *testing.T) {
	t.Parallel()
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	var got domain.WebhookEvent
	var headers http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers = r.Header.Clone()
		json.NewDecoder(r.Body).Decode(&got)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	w := adapters.NewWebhooks(adapters.WebhookConfig{})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := domain.WebhookEvent{Event: "BookingConfirmed", BookingID: "b1", OccurredAt: at, Data: map[string]string{"hotel_id": "h1"}}
	if err := w.Send(context.Background(), srv.URL+"/hook?token=secret", e); err != nil {
		t.Fatal(err)
	}
	if got.Event != "BookingConfirmed" || got.BookingID != "b1" || !got.OccurredAt.Equal(at) || got.Data.(map[string]any)["hotel_id"] != "h1" {
		t.Fatalf("body %+v", got)
	}
	if headers.Get("Content-Type") != "application/json" || headers.Get("Idempotency-Key") != "b1:BookingConfirmed" {
		t.Fatalf("headers %v", headers)
	}
	status.Store(http.StatusBadRequest)
	err := w.Send(context.Background(), srv.URL+"/hook?token=secret", e)
	if err == nil || messaging.IsPermanent(err) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("400: err %v (must be transient and not show the query)", err)
	}
}

func TestWebhooks_TimeoutIsAnError(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	w := adapters.NewWebhooks(adapters.WebhookConfig{Timeout: 50 * time.Millisecond})
	start := time.Now()
	if err := w.Send(context.Background(), srv.URL, domain.WebhookEvent{}); err == nil {
		t.Fatal("a receiver that never answers is a success")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("timeout not applied: %s", time.Since(start))
	}
}

func TestRecentDeliveries_SendsOnceAndRetriesAfterAFailure(t *testing.T) {
	t.Parallel()
	r := adapters.NewRecentDeliveries(10)
	ctx := context.Background()
	calls := 0
	fail := errors.New("down")
	send := func(err error) func(context.Context) error {
		return func(context.Context) error { calls++; return err }
	}
	if skipped, err := r.Once(ctx, "k", send(fail)); skipped || err != fail {
		t.Fatalf("first: %v %v", skipped, err)
	}
	if skipped, err := r.Once(ctx, "k", send(nil)); skipped || err != nil {
		t.Fatalf("after a failure: %v %v", skipped, err)
	}
	if skipped, err := r.Once(ctx, "k", send(nil)); !skipped || err != nil {
		t.Fatalf("after a success: %v %v", skipped, err)
	}
	if calls != 2 {
		t.Fatalf("send called %d times, want 2", calls)
	}
}

func TestRecentDeliveries_ConcurrentDuplicatesSendOnce(t *testing.T) {
	t.Parallel()
	r := adapters.NewRecentDeliveries(10)
	var calls atomic.Int32
	release := make(chan struct{})
	var ready, wg sync.WaitGroup
	ready.Add(5)
	for range 5 {
		wg.Go(func() {
			ready.Done()
			r.Once(context.Background(), "k", func(context.Context) error {
				calls.Add(1)
				<-release
				return nil
			})
		})
	}
	ready.Wait()
	// The first send is blocked; give the duplicates time to (wrongly) send too.
	deadline := time.Now().Add(200 * time.Millisecond)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("send ran %d times", calls.Load())
	}
}

func TestRecentDeliveries_ForgetsTheOldestBeyondItsCapacity(t *testing.T) {
	t.Parallel()
	r := adapters.NewRecentDeliveries(2)
	ok := func(context.Context) error { return nil }
	for _, k := range []string{"a", "b", "c"} {
		r.Once(context.Background(), k, ok)
	}
	if r.Len() != 2 {
		t.Fatalf("len %d", r.Len())
	}
	if skipped, _ := r.Once(context.Background(), "a", ok); skipped {
		t.Fatal("oldest key still remembered")
	}
	if skipped, _ := r.Once(context.Background(), "c", ok); !skipped {
		t.Fatal("newest key forgotten")
	}
}
