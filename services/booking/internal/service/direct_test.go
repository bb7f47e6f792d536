package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/services/booking/internal/service"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/testkit"
)

// downstream fakes the voucher, email and notification services' synchronous endpoints.
type downstream struct {
	voucher, email, notify *httptest.Server
	emailFails             atomic.Bool
	voucherGate            chan struct{} // if set, the voucher call waits for it
	calls                  atomic.Int32
}

func newDownstream(t *testing.T) *downstream {
	d := &downstream{}
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(v)
	}
	d.voucher = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		if d.voucherGate != nil {
			<-d.voucherGate
		}
		var ev contracts.BookingConfirmed
		json.NewDecoder(r.Body).Decode(&ev)
		answer(w, contracts.VoucherCreated{BookingID: ev.BookingID})
	}))
	d.email = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		if d.emailFails.Load() {
			http.Error(w, "smtp down", http.StatusServiceUnavailable)
			return
		}
		answer(w, contracts.ConfirmationEmailSent{})
	}))
	d.notify = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.calls.Add(1)
		answer(w, contracts.CustomerNotified{})
	}))
	t.Cleanup(func() { d.voucher.Close(); d.email.Close(); d.notify.Close() })
	return d
}

func (d *downstream) configure(c *service.Config) {
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
