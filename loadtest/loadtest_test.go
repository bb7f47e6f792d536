package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	// The machine's CPU per booking: the stack's services are processes of
	// this machine, named after them, and so is the load generator.
	if c := s.CPUPerBooking; c == nil || c.Basis != "fully processed" || c.Bookings != s.AcceptedBookings ||
		c.Parts["web"].Processes == 0 || c.Parts["booking"].Processes == 0 || c.Parts["booking"].Seconds <= 0 || c.TotalMS <= c.ServicesMS {
		t.Errorf("CPU per booking: %+v", c)
	} else {
		t.Logf("CPU per booking: services %.2f ms, whole machine %.2f ms, parts %+v", c.ServicesMS, c.TotalMS, c.Parts)
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
		// As the real web tier does: the booking's trace is the request's.
		trace := strings.Split(r.Header.Get("traceparent"), "-")[1]
		fmt.Fprintf(w, `{"id":"00000000-0000-4000-8000-%012d","status":"pending","trace_id":%q}`, n.Add(1), trace)
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

// slowWeb is fakeWeb whose answers to one booking request in every
// slowEvery take answerAfter (or until the client gives up).
func slowWeb(t *testing.T, slowEvery int64, answerAfter time.Duration) *httptest.Server {
	fake := fakeWeb(t)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && n.Add(1)%slowEvery == 0 {
			// Read first: the server sees the client hang up (and ends
			// r.Context) only once the body has been read.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			select {
			case <-time.After(answerAfter):
			case <-r.Context().Done():
				return
			}
		}
		fake.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRunCommand_ProgressRateCountsRequestsSentNotAnswered: every booking
// takes 4 s to answer, the load sends 30 a second for 3 s; while none is
// answered yet, the progress line's rate must read the sending, not 0.
func TestRunCommand_ProgressRateCountsRequestsSentNotAnswered(t *testing.T) {
	t.Parallel()
	web := slowWeb(t, 1, 4*time.Second)
	out := &syncBuffer{}
	code, err := dispatch(context.Background(), []string{
		"run", "-target", web.URL, "-scenario", "book", "-rate", "30", "-duration", "3s", "-repeat-share", "-1",
		"-drain-timeout", "1s", "-amqp-url", "", "-booking-url", "", "-voucher-url", "", "-email-url", "",
		"-notification-url", "", "-mailpit-url", "", "-jaeger-url", "", "-seed", "6", "-out", t.TempDir(),
	}, out)
	if code == exitFailed {
		t.Fatalf("exit %d: %v\n%s", code, err, out.String())
	}
	line := regexp.MustCompile(`(?m)^ +([0-9.]+)s  sent +(\d+)  rate +([0-9.]+)/s  in flight +(\d+)  2xx +0 `)
	seen := 0
	for _, m := range line.FindAllStringSubmatch(out.String(), -1) {
		elapsed, _ := strconv.ParseFloat(m[1], 64)
		rate, _ := strconv.ParseFloat(m[3], 64)
		if elapsed >= 1.5 && elapsed < 3.5 { // a second in, and before the first answer
			seen++
			if rate < 15 || m[4] == "0" {
				t.Errorf("no answers yet at %.1fs, rate %.1f/s, in flight %s: want about 30/s, all in flight\n%s", elapsed, rate, m[4], out.String())
			}
		}
	}
	if seen == 0 {
		t.Fatalf("no progress line between 1.5 s and 3.5 s without answers:\n%s", out.String())
	}
}

// TestRunCommand_DuplicatesFailTheRunAndUnsettledBookingsAreLate: the
// bookings the fake leaves pending are still pending when the drain times
// out: late, not lost; the keys answered with two IDs fail the run.
func TestRunCommand_DuplicatesFailTheRunAndUnsettledBookingsAreLate(t *testing.T) {
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
	if s.Lost != 0 || s.Late == 0 || s.LateDetail.NotFinal != s.Late || !s.DrainTimedOut || s.Duplicated == 0 || s.DuplicatedDetail.KeysWithTwoIDs != s.Duplicated {
		t.Fatalf("lost %d, late %d %+v (drain timed out %v), duplicated %d %+v", s.Lost, s.Late, s.LateDetail, s.DrainTimedOut, s.Duplicated, s.DuplicatedDetail)
	}
	if s.Checks["voucher"].Status != "skipped" || s.Checks["emails_received"].Status != "skipped" {
		t.Fatalf("checks without services must say skipped: %+v", s.Checks)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("lost 0, duplicated %d, late %d", s.Duplicated, s.Late)) || !strings.Contains(err.Error(), "late") {
		t.Fatalf("the verdict must name the duplicates and the late bookings (%v):\n%s", err, out.String())
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

func TestFlagsFromEnv_SetWhatTheCommandLineDoesNot(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	amqp := fs.String("amqp-url", "amqp://guest:guest@localhost:5672/", "")
	target := fs.String("target", "http://localhost:8080", "")
	rate := fs.Float64("rate", 50, "")
	jaeger := fs.String("jaeger-url", "http://localhost:16686", "")
	if err := fs.Parse([]string{"-target", "http://from-the-command-line"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"LOADTEST_AMQP_URL": "amqp://staybook:secret@rabbitmq:5672/", "LOADTEST_TARGET": "http://loadbalancer:8080",
		"LOADTEST_RATE": "100", "LOADTEST_JAEGER_URL": "",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := flagsFromEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if *amqp != env["LOADTEST_AMQP_URL"] || *target != "http://from-the-command-line" || *rate != 100 || *jaeger != "" {
		t.Fatalf("amqp %q target %q rate %v jaeger %q", *amqp, *target, *rate, *jaeger)
	}
	env["LOADTEST_RATE"] = "fast"
	fs = flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Float64("rate", 50, "")
	if err := flagsFromEnv(fs, lookup); err == nil || !strings.Contains(err.Error(), "LOADTEST_RATE") {
		t.Fatalf("a bad value must name its variable: %v", err)
	}
}

// TestRunCommand_ComposeModeFromTheEnvironment runs as the compose profile
// does: every setting from LOADTEST_ variables, service figures from
// Prometheus (summed over replicas), no broker to sample: the queue depth
// is "not measured", and the slowest bookings link to their traces.
func TestRunCommand_ComposeModeFromTheEnvironment(t *testing.T) {
	web := fakeWeb(t)
	var cpu atomic.Int64
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		result := `[]`
		if r.URL.Query().Get("query") == "sum by (job) (process_cpu_seconds_total)" {
			result = fmt.Sprintf(`[{"metric":{"job":"web"},"value":[1.7e9,"%d"]}]`, cpu.Add(1))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, result)
	}))
	t.Cleanup(prom.Close)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"LOADTEST_TARGET": web.URL, "LOADTEST_PROMETHEUS_URL": prom.URL, "LOADTEST_JAEGER_URL": "http://localhost:16686",
		"LOADTEST_AMQP_URL": "", "LOADTEST_BOOKING_URL": "", "LOADTEST_VOUCHER_URL": "", "LOADTEST_EMAIL_URL": "",
		"LOADTEST_NOTIFICATION_URL": "", "LOADTEST_MAILPIT_URL": "", "LOADTEST_OUT": dir,
	} {
		t.Setenv(k, v)
	}
	out := &syncBuffer{}
	code, err := dispatch(context.Background(), []string{"run", "-scenario", "book", "-rate", "20", "-duration", "2s",
		"-repeat-share", "-1", "-drain-timeout", "1s", "-seed", "4"}, out)
	if code != exitLate { // the fake web tier leaves every fourth booking pending
		t.Fatalf("exit %d (%v), want %d: bookings still pending at the drain's end are late\n%s", code, err, exitLate, out.String())
	}
	var s report.Summary
	raw, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Target != web.URL || s.PeakQueueDepth != nil || s.CPUSeconds["web"] <= 0 {
		t.Fatalf("target %s, peak depth %v, web CPU %v: want the environment's target, not measured, and Prometheus' figure",
			s.Target, s.PeakQueueDepth, s.CPUSeconds)
	}
	if len(s.Slowest) == 0 || !strings.HasPrefix(s.Slowest[0].TraceURL, "http://localhost:16686/trace/") || len(s.Slowest[0].TraceID) != 32 {
		t.Fatalf("slowest %+v: want links to the traces", s.Slowest)
	}
	if !regexp.MustCompile(`peak depth of commands.BookRoom +not measured`).MatchString(out.String()) {
		t.Fatalf("the summary must say the queue was not measured:\n%s", out.String())
	}
}
