package report

import (
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/loadtest/internal/cpucost"
	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/record"
	"github.com/staybook/staybook/loadtest/internal/scenario"
	"github.com/staybook/staybook/loadtest/internal/settle"
)

// The machine's CPU is divided by the bookings fully processed: final,
// and their tasks done (one of the three still has a task pending).
func TestSummarize_CPUPerFullyProcessedBooking(t *testing.T) {
	t.Parallel()
	start := time.Now()
	rec := record.New(start)
	for i, id := range []string{"a", "b", "c"} {
		rec.Add(result(start, time.Duration(i)*time.Millisecond, time.Millisecond, 202, scenario.KindBook, "k"+id, `{"id":"`+id+`","status":"pending"}`))
	}
	cpu := map[string]cpucost.Usage{
		"web": {Seconds: 0.01, Processes: 1}, "booking": {Seconds: 0.03, Processes: 1},
		cpucost.RabbitMQ: {Seconds: 0.02, Processes: 2}, cpucost.PostgreSQL: {Seconds: 0.04, Processes: 9},
		cpucost.LoadTest: {Seconds: 0.1, Processes: 1}, "voucher": {Ended: 1},
	}
	st := &settle.Result{Final: map[string]int{"confirmed": 2, "rejected": 1}, TasksPending: 1, Checks: map[string]settle.Check{}}
	s, _ := Summarize(Input{Scenario: "book", Profile: pace.Constant(3, time.Second), Start: start, Load: time.Second,
		Recorder: rec, Settle: st, StoredBefore: -1, StoredAfter: -1, CPU: cpu})
	c := s.CPUPerBooking
	if c == nil || c.Basis != "fully processed" || c.Bookings != 2 {
		t.Fatalf("cpu per booking %+v: want 2 fully processed", c)
	}
	if c.Parts["booking"].MSPerBooking != 15 || c.Parts[cpucost.LoadTest].MSPerBooking != 50 || c.ServicesMS != 20 || c.TotalMS != 100 {
		t.Fatalf("parts %+v, services %v, total %v", c.Parts, c.ServicesMS, c.TotalMS)
	}
	var out strings.Builder
	PrintSummary(&out, s)
	for _, want := range []string{"CPU per booking (2 fully processed", "postgresql       20.00 ms      0.04 CPU-s    9 processes", "services         20.00 ms", "all             100.00 ms", "1 ended during the run"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}

	// A front-door run (consumers paused): none final, per accepted booking.
	s, _ = Summarize(Input{Scenario: "book", Profile: pace.Constant(3, time.Second), Start: start, Load: time.Second,
		Recorder: rec, Settle: &settle.Result{Final: map[string]int{}, NotFinal: 3, Checks: map[string]settle.Check{}}, StoredBefore: -1, StoredAfter: -1, CPU: cpu})
	if c := s.CPUPerBooking; c == nil || c.Basis != "accepted" || c.Bookings != 3 || c.Parts["web"].MSPerBooking != 3.33 {
		t.Fatalf("front door: %+v", c)
	}
	// Not measured: no figure, rather than a made-up 0.
	s, _ = Summarize(Input{Scenario: "book", Profile: pace.Constant(3, time.Second), Start: start, Load: time.Second,
		Recorder: rec, Settle: st, StoredBefore: -1, StoredAfter: -1})
	if s.CPUPerBooking != nil {
		t.Fatalf("without /proc: %+v", s.CPUPerBooking)
	}
}
