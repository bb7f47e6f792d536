package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

var backgroundServices = []string{"booking", "voucher", "email", "notification", "web"}

func requireServices(t *testing.T, services []string) {
	t.Helper()
	build(t, nil)
	have := map[string]bool{}
	for _, s := range stack.AvailableServices(root) {
		have[s] = true
	}
	for _, s := range services {
		if !have[s] {
			t.Fatalf("service %s is missing", s)
		}
	}
}

// statusEvent is one Server-Sent Event of a booking's status stream.
type statusEvent struct {
	Version int64             `json:"version"`
	Status  string            `json:"status"`
	Tasks   map[string]string `json:"tasks"`
}

// readStatusStream reads status events from an SSE stream until all tasks
// are done or the deadline passes.
func readStatusStream(t *testing.T, url string, deadline time.Duration) []statusEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	testkit.Must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var events []statusEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data:") {
			continue
		}
		var ev statusEvent
		testkit.Must(t, json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &ev))
		events = append(events, ev)
		if ev.Tasks["voucher"] == "done" && ev.Tasks["email"] == "done" && ev.Tasks["notification"] == "done" {
			return events
		}
	}
	t.Fatalf("stream ended before every task was done: %+v (%v)", events, sc.Err())
	return nil
}

func TestOneBooking_TasksRunInWorkersAndTheGuestGetsOneEmailWithTheVoucher(t *testing.T) {
	t.Parallel()
	requireServices(t, backgroundServices)
	// The story's latencies: in the request they would cost 2.5 s.
	s := newSystem(t, backgroundServices, map[string]string{
		"VOUCHER_EXTRA_LATENCY": "1s", "EMAIL_EXTRA_LATENCY": "500ms", "NOTIFICATION_EXTRA_LATENCY": "1s",
	}, nil)
	mail := s.startMailpit(t)
	s.start(t, backgroundServices...)
	web := s.URL("web")
	otherWeb := s.startReplica(t, "web", "web-2")

	body := booking("loadtest-riverside-resort", "double", 1)
	body["guest_name"] = "Zoë Łukasiewicz"
	body["guest_email"] = "zoe.pipeline@example.com"
	start := time.Now()
	r := do(t, http.MethodPost, web+"/api/bookings", body, nil)
	answered := time.Since(start)
	// Accepted while still pending: the web tier waited neither for the
	// booking service nor for the tasks (how fast it answers is the load
	// test's to measure, not a timed assertion's).
	if r.Status != http.StatusAccepted || r.Body["status"] != "pending" {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)

	// A client that connects late, to the other replica, gets the current
	// state first, then every change, versions increasing.
	events := readStatusStream(t, otherWeb+"/api/bookings/"+id+"/events", time.Minute)
	for i := 1; i < len(events); i++ {
		if events[i].Version <= events[i-1].Version {
			t.Fatalf("versions not increasing: %+v", events)
		}
	}
	// Stored (version 1), then voucher, email and notification done: 4.
	last := events[len(events)-1]
	if last.Status != "confirmed" || last.Version != 4 {
		t.Fatalf("events %+v", events)
	}
	t.Logf("202 after %s; %d status events; all tasks done after %s", answered, len(events), time.Since(start))

	got := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
	tasks, _ := got.Body["tasks"].(map[string]any)
	if tasks["voucher"] != "done" || tasks["email"] != "done" || tasks["notification"] != "done" ||
		got.Body["voucher_url"] != "/api/bookings/"+id+"/voucher.pdf" {
		t.Fatalf("booking %s", got.Raw)
	}

	requireOneVoucherEmail(t, mail, web, id, "zoe.pipeline@example.com", 30*time.Second)
}

// requireOneVoucherEmail waits for the booking's email in Mailpit and checks
// there is exactly one, with the booking's Message-ID and a voucher PDF that
// names the booking, the guest and the hotel, and is the one the web tier
// serves.
func requireOneVoucherEmail(t *testing.T, mail mailpit, web, id, to string, within time.Duration) {
	t.Helper()
	var msgs []mailpitMessage
	testkit.Eventually(t, within, "email in Mailpit", func() bool {
		msgs = mail.messagesTo(t, to)
		return len(msgs) > 0
	})
	if len(msgs) != 1 || msgs[0].MessageID != id+"@staybook" {
		t.Fatalf("messages %+v, want one with Message-ID %s@staybook", msgs, id)
	}
	name, doc := mail.attachment(t, msgs[0].ID)
	if !strings.HasSuffix(name, ".pdf") {
		t.Fatalf("attachment %q", name)
	}
	text := pdfText(t, doc)
	for _, want := range []string{id, "Zoë Łukasiewicz", "Riverside Mega Resort"} {
		if !strings.Contains(text, want) {
			t.Errorf("voucher text lacks %q:\n%s", want, text)
		}
	}
	// The voucher the web tier serves is the one mailed.
	if v := do(t, http.MethodGet, web+"/api/bookings/"+id+"/voucher.pdf", nil, nil); v.Status != 200 || !bytes.Equal(v.Raw, doc) {
		t.Fatalf("voucher download: %d, %d bytes (mailed %d)", v.Status, len(v.Raw), len(doc))
	}
}

func pdfText(t *testing.T, doc []byte) string {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	testkit.Must(t, err)
	if r.NumPage() != 1 {
		t.Fatalf("voucher has %d pages", r.NumPage())
	}
	var b strings.Builder
	rd, err := r.GetPlainText()
	testkit.Must(t, err)
	buf := new(bytes.Buffer)
	buf.ReadFrom(rd)
	b.WriteString(buf.String())
	return b.String()
}
