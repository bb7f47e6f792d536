package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/loadtest/internal/localstack"
	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/report"
	"github.com/staybook/staybook/loadtest/internal/run"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// TestBookScenario_ShortRunAgainstARealStackLosesAndDuplicatesNothing runs
// the real services (those that build) on a vhost, databases and ports of
// their own, sends bookings at 50/s for 3 s (a few sent twice with their
// Idempotency-Key), drains, and checks the summary and the report files.
func TestBookScenario_ShortRunAgainstARealStackLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	root, err := localstack.Root()
	if err != nil {
		t.Fatal(err)
	}
	services := localstack.Available(root, nil)
	if !slices.Contains(services, "booking") || !slices.Contains(services, "web") {
		t.Fatalf("the booking and web services are needed; have %v", services)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	binDir := t.TempDir()
	if err := localstack.Build(ctx, root, binDir, services); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	st, err := localstack.Start(ctx, localstack.Config{Root: root, BinDir: binDir, Services: services, Logs: logs})
	if err != nil {
		t.Fatalf("start %v: %v\n%s", services, err, tail(logs.String(), 100))
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Logf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("logs of the services:\n%s", tail(logs.String(), 150))
		}
	})

	out := filepath.Join(t.TempDir(), "out")
	progress := &syncBuffer{}
	r, err := run.Run(ctx, run.Config{
		Label: "test", Target: st.URL("web"), Scenario: "book", Profile: pace.Constant(50, 3*time.Second),
		RepeatShare: 0.1, Seed: 7, Timeout: 10 * time.Second, DrainTimeout: time.Minute,
		AMQPURL: st.AMQPURL, BookingURL: st.URLOf("booking"), VoucherURL: st.URLOf("voucher"),
		EmailURL: st.URLOf("email"), NotificationURL: st.URLOf("notification"),
		BookingDatabaseURL: st.DatabaseURLs["booking"], Emails: st.SMTP, Notifications: st.Webhooks,
		OutDir: out, Out: progress,
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	s := r.Summary
	t.Logf("summary: requests %d, accepted %d, final %v, lost %d, duplicated %d, drain %.1fs, booking p99 %.1fms, checks %v",
		s.Requests, s.AcceptedBookings, s.FinalStates, s.Lost, s.Duplicated, s.DrainSeconds, s.BookingLatencyMS.P99, s.Checks)
	// vegeta sends nothing after the duration, so on a busy machine a few
	// of the 150 planned may not leave; every one that did must be accepted.
	if s.Requests < 100 || s.BookingAnswers["202"] != s.Requests {
		t.Errorf("requests %d of 150 planned, answers %v: want (nearly) all sent and every one answered 202", s.Requests, s.BookingAnswers)
	}
	if s.RepeatsAnswered == 0 || s.AcceptedBookings != s.Requests-s.RepeatsAnswered {
		t.Errorf("accepted %d distinct bookings with %d repeats: a repeat must get its first ID", s.AcceptedBookings, s.RepeatsAnswered)
	}
	if s.Lost != 0 || s.Duplicated != 0 || s.FinalStates["confirmed"] != s.AcceptedBookings {
		t.Errorf("lost %d (%+v), duplicated %d (%+v), final %v of %d accepted",
			s.Lost, s.LostDetail, s.Duplicated, s.DuplicatedDetail, s.FinalStates, s.AcceptedBookings)
	}
	if s.StoredBookings != s.AcceptedBookings {
		t.Errorf("the booking database gained %d bookings for %d accepted", s.StoredBookings, s.AcceptedBookings)
	}
	for svc, check := range map[string]string{"voucher": "voucher", "email": "email", "email ": "emails_received", "notification": "webhooks"} {
		if !st.Running(strings.TrimSpace(svc)) {
			continue
		}
		if c := s.Checks[check]; c.Status != "ok" || c.Checked != s.AcceptedBookings {
			t.Errorf("check %s: %+v, want ok for %d bookings", check, c, s.AcceptedBookings)
		}
	}
	if s.TimeToConfirmedMS == nil || s.TimeToConfirmedMS.N != s.AcceptedBookings {
		t.Errorf("time to confirmed not measured: %+v", s.TimeToConfirmedMS)
	}
	if s.QueueDrainSeconds < 0 || s.PeakMemoryBytes["booking"] == 0 || s.CPUSeconds["web"] == 0 && s.PeakMemoryBytes["web"] == 0 {
		t.Errorf("sampling: queue drain %v, memory %v, cpu %v", s.QueueDrainSeconds, s.PeakMemoryBytes, s.CPUSeconds)
	}
	if !strings.Contains(progress.String(), "sent") || !strings.Contains(progress.String(), "queue") {
		t.Errorf("no progress lines:\n%s", progress.String())
	}

	var onDisk report.Summary
	raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &onDisk); err != nil || onDisk.AcceptedBookings != s.AcceptedBookings {
		t.Fatalf("summary.json: %v %+v", err, onDisk)
	}
	for _, key := range []string{`"requests"`, `"rate"`, `"success_rate"`, `"errors_by_status"`, `"latency_ms"`, `"p50"`, `"p90"`, `"p99"`, `"max"`,
		`"accepted_bookings"`, `"final_states"`, `"lost"`, `"duplicated"`, `"drain_seconds"`, `"peak_queue_depth"`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("summary.json lacks %s", key)
		}
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(html, []byte("<svg")); n < 5 || bytes.Contains(html, []byte("<script")) {
		t.Errorf("report.html: %d charts, want at least 5 and no script", n)
	}
}

// fakeWeb is a web tier that breaks the rules on purpose: it answers every
// booking with a new ID (so a repeated Idempotency-Key gets two) and never
// settles one booking in four.
func fakeWeb(t *testing.T) *httptest.Server {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/hotels", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"hotels":[{"id":"loadtest-grand-central"}]}`)
	})
	mux.HandleFunc("GET /api/hotels/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id":"loadtest-grand-central","room_types":[{"id":"single","capacity":1,"total_rooms":5000}]}`)
	})
	mux.HandleFunc("POST /api/bookings", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"id":"00000000-0000-4000-8000-%012d","status":"pending"}`, n.Add(1))
	})
	mux.HandleFunc("GET /api/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		status := "confirmed"
		if strings.HasSuffix(r.PathValue("id"), "4") {
			status = "pending"
		}
		fmt.Fprintf(w, `{"id":%q,"status":%q,"tasks":{"voucher":"done","email":"done","notification":"done"}}`, r.PathValue("id"), status)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunCommand_LostAndDuplicatedBookingsFailTheRun(t *testing.T) {
	t.Parallel()
	web := fakeWeb(t)
	out := &syncBuffer{}
	dir := t.TempDir()
	code, err := dispatch(context.Background(), []string{
		"run", "-target", web.URL, "-scenario", "book", "-rate", "40", "-duration", "1s", "-repeat-share", "0.3",
		"-drain-timeout", "1s", "-amqp-url", "", "-booking-url", "", "-voucher-url", "", "-email-url", "",
		"-notification-url", "", "-mailpit-url", "", "-seed", "3", "-out", dir,
	}, out)
	if code != exitFound || err == nil {
		t.Fatalf("exit %d (%v), want %d for lost and duplicated bookings\n%s", code, err, exitFound, out.String())
	}
	var s report.Summary
	raw, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Lost == 0 || s.LostDetail.NotFinal != s.Lost || s.Duplicated == 0 || s.DuplicatedDetail.KeysWithTwoIDs != s.Duplicated {
		t.Fatalf("lost %d %+v, duplicated %d %+v", s.Lost, s.LostDetail, s.Duplicated, s.DuplicatedDetail)
	}
	if s.Checks["voucher"].Status != "skipped" || s.Checks["emails_received"].Status != "skipped" {
		t.Fatalf("checks without services must say skipped: %+v", s.Checks)
	}
	if !strings.Contains(out.String(), "lost ") {
		t.Fatalf("no verdict printed:\n%s", out.String())
	}
}

func TestDispatch_RefusesUnknownCommandsAndProfiles(t *testing.T) {
	t.Parallel()
	if code, err := dispatch(context.Background(), []string{"demo-nothing"}, &bytes.Buffer{}); code != exitFailed || err == nil {
		t.Fatalf("unknown command: %d %v", code, err)
	}
	if code, err := dispatch(context.Background(), []string{"-profile", "sine"}, &bytes.Buffer{}); code != exitFailed || err == nil {
		t.Fatalf("unknown profile: %d %v", code, err)
	}
}
