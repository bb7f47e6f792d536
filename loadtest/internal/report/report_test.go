package report

import (
	"fmt"
	"net/http"

	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/record"
	"github.com/staybook/staybook/loadtest/internal/sample"
	"github.com/staybook/staybook/loadtest/internal/scenario"
	"github.com/staybook/staybook/loadtest/internal/settle"
	"github.com/staybook/staybook/shared/messaging"
)

func result(start time.Time, at, latency time.Duration, code uint16, kind, key, body string) *vegeta.Result {
	h := http.Header{}
	h.Set(scenario.EchoPrefix+scenario.HeaderKind, kind)
	if key != "" {
		h.Set(scenario.EchoPrefix+scenario.HeaderIdempotencyKey, key)
	}
	r := &vegeta.Result{Timestamp: start.Add(at), Latency: latency, Code: code, Body: []byte(body), Headers: h, Method: http.MethodPost}
	if code == 0 {
		r.Error = "Post \"http://web/api/bookings\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
	}
	return r
}

func TestSummarize_CountsOutcomesLatenciesAndBookings(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rec := record.New(start)
	rec.Add(result(start, 100*time.Millisecond, 5*time.Millisecond, 202, scenario.KindBook, "k1", `{"id":"a","status":"pending"}`))
	rec.Add(result(start, 200*time.Millisecond, 7*time.Millisecond, 202, scenario.KindRepeat, "k1", `{"id":"a","status":"pending"}`))
	rec.Add(result(start, 1100*time.Millisecond, 9*time.Millisecond, 202, scenario.KindBook, "k2", `{"id":"b","status":"pending"}`))
	rec.Add(result(start, 1200*time.Millisecond, 20*time.Millisecond, 503, scenario.KindBook, "k3", `{"error":{}}`))
	rec.Add(result(start, 1300*time.Millisecond, 10*time.Second, 0, "", "", ""))
	// b confirmed without its voucher though its voucher task is done
	// (lost), its email task still pending (late); a not final yet (late).
	st := &settle.Result{Final: map[string]int{"confirmed": 1}, NotFinal: 1, Drain: 2 * time.Second, QueueDrained: time.Second, TimedOut: true,
		Checks: map[string]settle.Check{"voucher": {Status: "failed", Checked: 1, Missing: 1}, "email": {Status: "late", Checked: 1, Late: 1},
			"emails_received": {Status: "failed", Checked: 1, Twice: 1}}}
	s, tl := Summarize(Input{Scenario: "book", Profile: pace.Constant(5, time.Second), Start: start, Load: 2 * time.Second,
		Recorder: rec, Settle: st, StoredBefore: 10, StoredAfter: 13})
	if s.Requests != 5 || s.Transport != "queue" || s.AcceptedBookings != 2 || s.RepeatsAnswered != 1 {
		t.Fatalf("requests %d transport %s accepted %d repeats %d", s.Requests, s.Transport, s.AcceptedBookings, s.RepeatsAnswered)
	}
	if s.ErrorsByStatus["503"] != 1 || s.ErrorsByStatus["timeout"] != 1 || s.ErrorsByStatus["202"] != 0 || s.TimeoutRate != 0.2 {
		t.Fatalf("errors %v, timeout rate %v", s.ErrorsByStatus, s.TimeoutRate)
	}
	if s.Lost != 1 || s.LostDetail != (Lost{NoVoucher: 1}) || s.Duplicated != 1 || s.DuplicatedDetail.EmailsSentTwice != 1 {
		t.Fatalf("lost %d %+v, duplicated %d %+v", s.Lost, s.LostDetail, s.Duplicated, s.DuplicatedDetail)
	}
	if s.Late != 2 || s.LateDetail != (Late{NotFinal: 1, EmailPending: 1}) || !s.DrainTimedOut {
		t.Fatalf("late %d %+v, drain timed out %v: in progress at the drain's end is late, not lost", s.Late, s.LateDetail, s.DrainTimedOut)
	}
	var terminal strings.Builder
	PrintSummary(&terminal, s)
	if !regexp.MustCompile(`refused \(503\) p50 / p99 / max \(time to the 503\) +20\.0 ms / 20\.0 ms / 20\.0 ms`).MatchString(terminal.String()) {
		t.Fatalf("the terminal summary must give the time to the 503s:\n%s", terminal.String())
	}
	if !strings.Contains(terminal.String(), "lost 1, duplicated 1, late 2\n") || !strings.Contains(terminal.String(), "still in progress when the drain ended") {
		t.Fatalf("the terminal summary must say lost and late apart:\n%s", terminal.String())
	}
	if s.StoredBookings != 3 || s.StoredUnacknowledged != 1 {
		t.Fatalf("stored %d, unacknowledged %d: want 3 and 1 (the 503 or the timeout was booked)", s.StoredBookings, s.StoredUnacknowledged)
	}
	if s.LatencyMS.Max != 10000 || s.LatencyMS.P50 != 9 {
		t.Fatalf("latency %+v", s.LatencyMS)
	}
	// The booking answers are the three that carried a booking (5, 7 and 9 ms);
	// the 503 (20 ms) is a refusal, and the timeout is neither.
	if b := s.BookingLatencyMS; b.N != 3 || b.Max != 9 || b.P50 != 7 {
		t.Fatalf("booking latency %+v: want the three answers with a booking only", b)
	}
	if r := s.RefusedLatencyMS; r.N != 1 || r.P50 != 20 || r.Max != 20 {
		t.Fatalf("refused latency %+v: want the one 503, 20 ms", r)
	}
	if w := s.BookingWaitMS; w.N != 5 || w.Max != 10000 {
		t.Fatalf("booking wait %+v: want every booking request, the timeout's 10 s too", w)
	}
	if len(tl.Seconds) != 2 || tl.Seconds[0].Accepted != 2 || tl.Seconds[1].C5xx != 1 || tl.Seconds[1].Timeouts != 1 {
		t.Fatalf("timeline %+v", tl.Seconds)
	}

	dir := t.TempDir()
	if err := WriteRun(dir, Run{Summary: s, Timeline: tl}); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "Latency of the requests", "emails_received", `class="bad"`, "late at the drain", "2 (1, 0, 1)"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestChart_DrawsLinesLegendAndBandOrSaysNoData(t *testing.T) {
	t.Parallel()
	c := Chart{Title: "t", Unit: "ms", LogY: true, Band: &[2]float64{2, 4},
		Series: []Series{{Name: "p99 <b>", X: []float64{0, 1, 2}, Y: []float64{1, 0, 1000}}}}
	svg := string(c.SVG())
	if !strings.Contains(svg, "<path") || !strings.Contains(svg, "p99 &lt;b&gt;") || !strings.Contains(svg, `class="band"`) {
		t.Fatalf("svg: %s", svg)
	}
	if strings.Count(svg, "M") < 2 {
		t.Fatalf("a zero on a log axis must break the line: %s", svg)
	}
	if empty := string(Chart{Title: "e"}.SVG()); !strings.Contains(empty, "no data") {
		t.Fatalf("empty chart: %s", empty)
	}
}

func TestNiceTicks_CoverTheRangeWithRoundSteps(t *testing.T) {
	t.Parallel()
	ticks := niceTicks(0, 93, 5)
	if ticks[0] != 0 || ticks[len(ticks)-1] < 93 || ticks[1] != 20 {
		t.Fatalf("ticks %v", ticks)
	}
}

func TestSummarize_WhatWasNotSampledIsNotMeasuredNotZero(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rec := record.New(start)
	rec.Add(result(start, 0, 5*time.Millisecond, 202, scenario.KindBook, "k1", `{"id":"a","status":"pending"}`))
	in := Input{Scenario: "book", Profile: pace.Constant(1, time.Second), Start: start, Load: time.Second, Recorder: rec,
		StoredBefore: -1, StoredAfter: -1,
		// Sampled, but neither the broker nor any service answered.
		Samples: []sample.Sample{{At: time.Second}, {At: 2 * time.Second}}}
	s, tl := Summarize(in)
	if s.PeakQueueDepth != nil || s.DeadLettered != nil {
		t.Fatalf("queue depths not sampled, yet peak %v, dead letters %v", s.PeakQueueDepth, s.DeadLettered)
	}
	dir := t.TempDir()
	if err := WriteRun(dir, Run{Summary: s, Timeline: tl}); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	js, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	var terminal strings.Builder
	PrintSummary(&terminal, s)
	for name, out := range map[string]string{"report.html": string(html), "terminal": terminal.String()} {
		for _, row := range []string{"peak depth of commands.BookRoom", "dead letters", "peak memory per service", "CPU seconds per service"} {
			if !regexp.MustCompile(regexp.QuoteMeta(row) + `[^\n]*not measured`).MatchString(out) {
				t.Errorf("%s: %q is not \"not measured\"", name, row)
			}
		}
	}
	if !strings.Contains(string(js), `"peak_queue_depth": null`) || !strings.Contains(string(js), `"dead_lettered": null`) {
		t.Errorf("summary.json must say null for what was not sampled:\n%s", js)
	}

	// Sampled: a real 0 is 0.
	in.Samples = []sample.Sample{{At: time.Second, Queues: map[string]int{messaging.BookRoomQueue: 0, messaging.DeadLetterQueue: 0}}}
	if s, _ := Summarize(in); s.PeakQueueDepth == nil || *s.PeakQueueDepth != 0 || s.DeadLettered == nil {
		t.Fatalf("sampled queues: peak %v, dead letters %v, want 0 and 0", s.PeakQueueDepth, s.DeadLettered)
	}
}

func TestSummarize_SlowestBookingsLinkToTheirTraces(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rec := record.New(start)
	for i := range 15 {
		id := fmt.Sprintf("b%02d", i)
		trace := fmt.Sprintf("%032x", i+1)
		body := `{"id":"` + id + `","status":"pending","trace_id":"` + trace + `"}`
		rec.Add(result(start, time.Duration(i)*time.Millisecond, time.Duration(i+1)*time.Millisecond, 202, scenario.KindBook, "k"+id, body))
	}
	// An answer without trace_id: the traceparent header names the trace.
	r := result(start, 0, 2*time.Second, 202, scenario.KindBook, "kx", `{"id":"x","status":"pending"}`)
	r.Headers.Set("traceparent", "00-"+strings.Repeat("ab", 16)+"-00f067aa0ba902b7-01")
	rec.Add(r)
	// The drain saw b03 settle last of all.
	st := &settle.Result{Bookings: []*settle.Booking{{ID: "b03", SettledAfter: 9 * time.Second}}}
	s, tl := Summarize(Input{Scenario: "book", Profile: pace.Constant(1, time.Second), Start: start, Load: time.Second,
		Recorder: rec, Settle: st, StoredBefore: -1, StoredAfter: -1, JaegerURL: "http://localhost:16686/"})
	if len(s.Slowest) != SlowestShown {
		t.Fatalf("%d slowest, want %d", len(s.Slowest), SlowestShown)
	}
	first, second, third := s.Slowest[0], s.Slowest[1], s.Slowest[2]
	if first.ID != "b03" || first.SettledMS != 9000 || first.TraceURL != "http://localhost:16686/trace/"+fmt.Sprintf("%032x", 4) {
		t.Errorf("slowest %+v: want b03, settled last, linked to its trace", first)
	}
	if second.ID != "x" || second.TraceID != strings.Repeat("ab", 16) || third.ID != "b14" {
		t.Errorf("then %+v and %+v: want x (2 s answer, trace from traceparent), then b14", second, third)
	}
	dir := t.TempDir()
	if err := WriteRun(dir, Run{Summary: s, Timeline: tl}); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), `<a href="http://localhost:16686/trace/`+fmt.Sprintf("%032x", 4)+`">`) {
		t.Error("report.html does not link the slowest booking to its trace")
	}
}

func TestSummarize_SlowestAreTracedBookingsWhenOnlySomeAreSampled(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rec := record.New(start)
	// The slowest answer was not sampled (-trace-share): it has no trace to link to.
	r := result(start, 0, 3*time.Second, 202, scenario.KindBook, "k0", `{"id":"slow","status":"pending","trace_id":"`+strings.Repeat("a", 32)+`"}`)
	r.Headers.Set("traceparent", "00-"+strings.Repeat("a", 32)+"-00f067aa0ba902b7-00")
	rec.Add(r)
	r = result(start, 0, time.Second, 202, scenario.KindBook, "k1", `{"id":"traced","status":"pending","trace_id":"`+strings.Repeat("b", 32)+`"}`)
	r.Headers.Set("traceparent", "00-"+strings.Repeat("b", 32)+"-00f067aa0ba902b7-01")
	rec.Add(r)
	s, _ := Summarize(Input{Scenario: "book", Profile: pace.Constant(1, time.Second), Start: start, Load: time.Second,
		Recorder: rec, StoredBefore: -1, StoredAfter: -1, JaegerURL: "http://jaeger"})
	if len(s.Slowest) != 1 || s.Slowest[0].ID != "traced" || s.Slowest[0].TraceURL != "http://jaeger/trace/"+strings.Repeat("b", 32) {
		t.Fatalf("slowest %+v: want the traced booking only", s.Slowest)
	}
}
