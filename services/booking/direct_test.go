package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/testkit"
)

// downstream fakes the voucher, email and notification services'
// synchronous endpoints (docs/internal-api.md): each answers only its own
// method and path, and only a body that is the event it expects.
type downstream struct {
	voucher, email, notify *httptest.Server
	emailFails             atomic.Bool
	voucherGate            chan struct{} // if set, the voucher call waits for it
	calls                  atomic.Int32
	mu                     sync.Mutex
	notified               []string // the event of each notification
}

func newDownstream(t *testing.T) *downstream {
	d := &downstream{}
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(v)
	}
	d.voucher = httptest.NewServer(endpoint(t, d, "/internal/vouchers", func(ev contracts.BookingConfirmed) string { return ev.BookingID },
		func(w http.ResponseWriter, ev contracts.BookingConfirmed) {
			if d.voucherGate != nil {
				<-d.voucherGate
			}
			answer(w, contracts.VoucherCreated{BookingID: ev.BookingID, GuestEmail: ev.GuestEmail})
		}))
	d.email = httptest.NewServer(endpoint(t, d, "/internal/emails", func(ev contracts.VoucherCreated) string { return ev.BookingID },
		func(w http.ResponseWriter, ev contracts.VoucherCreated) {
			if d.emailFails.Load() {
				http.Error(w, "smtp down", http.StatusServiceUnavailable)
				return
			}
			answer(w, contracts.ConfirmationEmailSent{BookingID: ev.BookingID})
		}))
	d.notify = httptest.NewServer(endpoint(t, d, "/internal/notifications", func(n notification) string { return n.Payload.BookingID },
		func(w http.ResponseWriter, n notification) {
			d.mu.Lock()
			d.notified = append(d.notified, n.Event)
			d.mu.Unlock()
			answer(w, contracts.CustomerNotified{BookingID: n.Payload.BookingID, Event: n.Event})
		}))
	t.Cleanup(func() { d.voucher.Close(); d.email.Close(); d.notify.Close() })
	return d
}

// notification is the body of POST /internal/notifications.
type notification struct {
	Event   string `json:"event"`
	Payload struct {
		BookingID string `json:"booking_id"`
	} `json:"payload"`
}

// endpoint accepts only POST path with a JSON body T whose booking ID (found
// by id) is set, counts the call and lets handle answer.
func endpoint[T any](t *testing.T, d *downstream, path string, id func(T) string, handle func(http.ResponseWriter, T)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != path {
			t.Errorf("downstream call %s %s, want POST %s", r.Method, r.URL.Path, path)
			http.NotFound(w, r)
			return
		}
		var body T
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || id(body) == "" {
			t.Errorf("POST %s: body without a booking ID (%v)", path, err)
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		d.calls.Add(1)
		handle(w, body)
	})
}

func (d *downstream) configure(c *Config) {
	c.VoucherURL, c.EmailURL, c.NotificationURL = d.voucher.URL, d.email.URL, d.notify.URL
}

func postDirect(ctx context.Context, t *testing.T, in *instance, cmd contracts.BookRoom) (int, map[string]any) {
	body, _ := json.Marshal(cmd)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+in.svc.Addr()+"/internal/bookings", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1, nil
	}
	defer resp.Body.Close()
	var b map[string]any
	json.NewDecoder(resp.Body).Decode(&b)
	return resp.StatusCode, b
}

func TestDirect_BooksAndRunsEveryTaskInTheRequest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	d := newDownstream(t)
	in := s.start(t, 1, d.configure)
	code, b := postDirect(context.Background(), t, in, command("lisbon-tagus-grand", "double"))
	tasks, _ := b["tasks"].(map[string]any)
	if code != http.StatusCreated || b["status"] != "confirmed" || tasks["voucher"] != "done" || tasks["email"] != "done" || tasks["notification"] != "done" {
		t.Fatalf("%d %v", code, b)
	}
	if n := d.calls.Load(); n != 3 {
		t.Fatalf("%d downstream calls, want 3", n)
	}
}

func TestDirect_AFailedStepMarksItsTaskAndTheRestFailed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	d := newDownstream(t)
	d.emailFails.Store(true)
	in := s.start(t, 1, d.configure)
	cmd := command("lisbon-tagus-grand", "double")
	code, _ := postDirect(context.Background(), t, in, cmd)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", code)
	}
	b, _ := s.getBooking(t, in, cmd.BookingID)
	tasks := b["tasks"].(map[string]any)
	if tasks["voucher"] != "done" || tasks["email"] != "failed" || tasks["notification"] != "failed" {
		t.Fatalf("tasks %v", tasks)
	}
}

func TestDirect_AClientThatGivesUpDoesNotLeaveTasksPending(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	d := newDownstream(t)
	d.voucherGate = make(chan struct{})
	in := s.start(t, 1, d.configure)
	cmd := command("lisbon-tagus-grand", "double")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if code, _ := postDirect(ctx, t, in, cmd); code != -1 {
		t.Fatalf("the client was answered (%d) before its deadline", code)
	}
	close(d.voucherGate) // the voucher service answers only after the client gave up
	testkit.Eventually(t, 10*time.Second, "every task done although the client left", func() bool {
		b, _ := s.getBooking(t, in, cmd.BookingID)
		tasks, _ := b["tasks"].(map[string]any)
		return tasks != nil && tasks["voucher"] == "done" && tasks["email"] == "done" && tasks["notification"] == "done"
	})
}

func TestDirect_ARejectedBookingIsOnlyNotified(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	d := newDownstream(t)
	in := s.start(t, 1, d.configure)
	cmd := command("lisbon-tagus-grand", "broom-cupboard")
	code, b := postDirect(context.Background(), t, in, cmd)
	tasks, _ := b["tasks"].(map[string]any)
	if code != http.StatusCreated || b["status"] != "rejected" || b["reason"] != contracts.ReasonUnknownRoomType ||
		tasks["voucher"] != "skipped" || tasks["email"] != "skipped" || tasks["notification"] != "done" {
		t.Fatalf("%d %v", code, b)
	}
	if n := d.calls.Load(); n != 1 || len(d.notified) != 1 || d.notified[0] != "BookingRejected" {
		t.Fatalf("%d downstream calls, notifications %v; want one BookingRejected", n, d.notified)
	}
	// The same command again: 200 with the stored booking, nobody told twice.
	if code, b := postDirect(context.Background(), t, in, cmd); code != http.StatusOK || b["status"] != "rejected" || d.calls.Load() != 1 {
		t.Fatalf("retry: %d %v, %d calls", code, b, d.calls.Load())
	}
}

func TestDirect_ACommandWithoutAUUIDIsRefused(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	d := newDownstream(t)
	in := s.start(t, 1, d.configure)
	cmd := command("lisbon-tagus-grand", "double")
	cmd.BookingID = "booking-1"
	if code, b := postDirect(context.Background(), t, in, cmd); code != http.StatusUnprocessableEntity {
		t.Fatalf("%d %v, want 422", code, b)
	}
	if d.calls.Load() != 0 || s.count(t, `SELECT count(*) FROM bookings`) != 0 {
		t.Fatal("a refused command was booked")
	}
}
