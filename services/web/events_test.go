package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// sseEvent is one event of a stream; a comment line (heartbeat) is counted, not returned.
type sseEvent struct {
	name, id string
	view     app.BookingView
}

type sseStream struct {
	events     chan sseEvent
	heartbeats atomic.Int32
	closed     chan struct{} // the server ended the stream
	cancel     context.CancelFunc
}

func openStream(t *testing.T, w *web, id string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/api/bookings/"+id+"/events", nil)
	testkit.Must(t, err)
	resp, err := http.DefaultClient.Do(req)
	testkit.Must(t, err)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{events: make(chan sseEvent, 100), closed: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.closed)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		var data string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if data != "" {
					if err := json.Unmarshal([]byte(data), &ev.view); err == nil {
						s.events <- ev
					}
				}
				ev, data = sseEvent{}, ""
			case strings.HasPrefix(line, ":"):
				s.heartbeats.Add(1)
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		if ev.name != "status" {
			t.Fatalf("event %q, want status", ev.name)
		}
		return ev
	case <-s.closed:
		t.Fatal("stream ended")
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	return sseEvent{}
}

func statusChange(id string, version int64, tasks contracts.Tasks) contracts.BookingStatusChanged {
	return contracts.BookingStatusChanged{BookingID: id, Version: version, Status: contracts.StatusConfirmed, Tasks: tasks, ChangedAt: time.Now()}
}

func TestEvents_SnapshotThenOnlyHigherVersionsOfThisBookingOnEveryReplica(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	// Streams outlive the server's write timeout: heartbeats are seen well past it.
	cfg.PublishTimeout = 500 * time.Millisecond
	cfg.HTTPWriteTimeout = time.Second
	cfg.SSEHeartbeat = 100 * time.Millisecond
	a, b := startWeb(t, cfg), startWeb(t, cfg)

	var accepted, other app.Accepted
	a.post(t, bookingBody(t, nil), nil).json(t, &accepted)
	a.post(t, bookingBody(t, nil), nil).json(t, &other)
	id := accepted.ID
	pending := contracts.Tasks{Voucher: "pending", Email: "pending", Notification: "pending"}
	fb.put(domain.Booking{ID: id, Version: 2, Status: contracts.StatusConfirmed, Tasks: pending})

	streams := []*sseStream{openStream(t, a, id), openStream(t, b, id)}
	for i, s := range streams {
		ev := s.next(t)
		if ev.view.ID != id || ev.view.Version != 2 || ev.view.Status != "confirmed" || ev.id != "2" {
			t.Fatalf("stream %d snapshot %+v", i, ev)
		}
	}

	pub := newTestPublisher(t, amqpURL, cfg)
	publishStatus(t, pub, statusChange(other.ID, 9, pending))                                                               // another booking
	publishStatus(t, pub, statusChange(id, 1, pending))                                                                     // older than the snapshot
	publishStatus(t, pub, statusChange(id, 2, pending))                                                                     // the snapshot itself
	publishStatus(t, pub, statusChange(id, 3, contracts.Tasks{Voucher: "done", Email: "pending", Notification: "pending"})) // news
	for i, s := range streams {
		ev := s.next(t)
		want := app.BookingView{ID: id, Version: 3, Status: "confirmed",
			Tasks:      contracts.Tasks{Voucher: "done", Email: "pending", Notification: "pending"},
			VoucherURL: "/api/bookings/" + id + "/voucher.pdf"}
		if ev.view != want {
			t.Fatalf("stream %d: got %+v\nwant %+v", i, ev.view, want)
		}
	}

	// Past the 1 s write timeout the streams still carry heartbeats and events.
	testkit.Eventually(t, 10*time.Second, "heartbeats for longer than the write timeout", func() bool {
		return streams[0].heartbeats.Load() >= 15 && streams[1].heartbeats.Load() >= 15
	})
	publishStatus(t, pub, statusChange(id, 4, contracts.Tasks{Voucher: "done", Email: "done", Notification: "pending"}))
	for i, s := range streams {
		if ev := s.next(t); ev.view.Version != 4 || ev.view.Tasks.Email != "done" {
			t.Fatalf("stream %d after the write timeout: %+v", i, ev.view)
		}
	}
	for i, s := range streams {
		select {
		case ev := <-s.events:
			t.Fatalf("stream %d got an extra event %+v", i, ev)
		default:
		}
	}
}

func TestEvents_UnstoredBookingStartsPendingAndForeignIDsAre404(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	w := startWeb(t, cfg)
	var accepted app.Accepted
	w.post(t, bookingBody(t, nil), nil).json(t, &accepted)

	s := openStream(t, w, accepted.ID)
	if ev := s.next(t); ev.view.Status != "pending" || ev.view.Version != 0 || ev.view.Tasks.Voucher != "pending" {
		t.Fatalf("snapshot %+v", ev.view)
	}
	pub := newTestPublisher(t, amqpURL, cfg)
	publishStatus(t, pub, statusChange(accepted.ID, 1, contracts.Tasks{Voucher: "pending", Email: "pending", Notification: "pending"}))
	if ev := s.next(t); ev.view.Version != 1 || ev.view.Status != "confirmed" {
		t.Fatalf("first change %+v", ev.view)
	}

	if resp := w.get(t, "/api/bookings/3f1e5c4e-8b0a-4c6e-9d2b-1a7f0e3c5b9d/events"); resp.status != http.StatusNotFound {
		t.Fatalf("foreign ID: %d", resp.status)
	}
}

func TestEvents_ShutdownEndsOpenStreamsPromptly(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	cfg := testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1")
	cfg.ShutdownTimeout = 20 * time.Second
	w := startWeb(t, cfg)
	var accepted app.Accepted
	w.post(t, bookingBody(t, nil), nil).json(t, &accepted)
	s := openStream(t, w, accepted.ID)
	s.next(t)

	start := time.Now()
	w.stop()
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after shutdown")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %s: the stream held it up", d)
	}
}

// streamAs opens the event stream of id as client (X-Forwarded-For, the
// test playing the trusted load balancer) and returns the response; the
// stream closes when the test ends or close is called.
func streamAs(t *testing.T, w *web, id, client string) (resp *http.Response, close func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+"/api/bookings/"+id+"/events", nil)
	testkit.Must(t, err)
	req.Header.Set("X-Forwarded-For", client)
	resp, err = http.DefaultClient.Do(req)
	testkit.Must(t, err)
	close = func() { cancel(); resp.Body.Close() }
	t.Cleanup(close)
	return resp, close
}

func TestEvents_CappedPerClientWith429AndPerReplicaWith503(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	cfg := testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1")
	cfg.SSEMaxStreamsPerClient = 2
	cfg.SSEMaxStreams = 3
	cfg.TrustedProxies = []string{"127.0.0.1"}
	w := startWeb(t, cfg)
	var accepted app.Accepted
	w.post(t, bookingBody(t, nil), nil).json(t, &accepted)
	id := accepted.ID

	status := func(client string) (int, func()) {
		resp, closeStream := streamAs(t, w, id, client)
		if resp.StatusCode != http.StatusOK {
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("%d without Retry-After", resp.StatusCode)
			}
			var body struct{ Error struct{ Code string } }
			json.NewDecoder(resp.Body).Decode(&body)
			if body.Error.Code != app.CodeTooManyStreams {
				t.Errorf("%d with code %q", resp.StatusCode, body.Error.Code)
			}
		}
		return resp.StatusCode, closeStream
	}
	_, closeA1 := status("198.51.100.1")
	if code, _ := status("198.51.100.1"); code != http.StatusOK {
		t.Fatalf("second stream of a client: %d", code)
	}
	if code, _ := status("198.51.100.1"); code != http.StatusTooManyRequests {
		t.Fatalf("third stream of a client: %d, want 429", code)
	}
	if code, _ := status("198.51.100.2"); code != http.StatusOK {
		t.Fatalf("another client's stream: %d", code)
	}
	if code, _ := status("198.51.100.3"); code != http.StatusServiceUnavailable {
		t.Fatalf("a stream past the replica's bound: %d, want 503", code)
	}
	// A stream that ends makes room again.
	closeA1()
	testkit.Eventually(t, 10*time.Second, "room after a stream closed", func() bool {
		code, closeStream := status("198.51.100.3")
		closeStream()
		return code == http.StatusOK
	})
}

func TestEvents_AStreamEndsAfterItsLifetimeWithAReconnectHint(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	cfg := testConfig(testkit.Vhost(t), fb.URL(), "http://127.0.0.1:1")
	cfg.SSEMaxLifetime = time.Second
	cfg.SSEHeartbeat = 100 * time.Millisecond
	w := startWeb(t, cfg)
	var accepted app.Accepted
	w.post(t, bookingBody(t, nil), nil).json(t, &accepted)

	resp, _ := streamAs(t, w, accepted.ID, "198.51.100.1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	start := time.Now()
	ended := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		ended <- lines
	}()
	select {
	case lines := <-ended:
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the stream lived %s, lifetime 1s", d)
		}
		// The stream's last words: a retry hint, then the end.
		tail := strings.Join(lines[max(0, len(lines)-3):], "\n")
		if !strings.Contains(tail, "retry: 2000\n: stream lifetime reached") {
			t.Fatalf("the stream ended without a reconnect hint; last lines:\n%s", tail)
		}
		if !slices.Contains(lines, "event: status") {
			t.Fatalf("no status event before the end:\n%s", strings.Join(lines, "\n"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its lifetime by 9s")
	}
}
