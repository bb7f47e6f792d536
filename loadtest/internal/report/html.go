package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/staybook/staybook/loadtest/internal/sample"
	"github.com/staybook/staybook/shared/messaging"
)

// Run is one run's summary and timeline, as the reports draw them.
type Run struct {
	Summary  *Summary
	Timeline *Timeline
}

// WriteRun writes summary.json, timeline.json and report.html into dir.
func WriteRun(dir string, r Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := writeJSON(filepath.Join(dir, "summary.json"), r.Summary); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "timeline.json"), r.Timeline); err != nil {
		return err
	}
	title := "Staybook load test: " + r.Summary.Scenario + ", " + r.Summary.Profile
	if r.Summary.Label != "" {
		title += " (" + r.Summary.Label + ")"
	}
	return writeHTML(filepath.Join(dir, "report.html"), page{
		Title: title, Runs: []Run{r}, Table: runTable([]Run{r}), Charts: charts([]Run{r}),
	})
}

// WriteCompare writes comparison.json and report.html for runs side by side.
func WriteCompare(dir, title string, intro []string, runs []Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	sums := make([]*Summary, len(runs))
	for i, r := range runs {
		sums[i] = r.Summary
	}
	if err := writeJSON(filepath.Join(dir, "comparison.json"), sums); err != nil {
		return err
	}
	return writeHTML(filepath.Join(dir, "report.html"), page{
		Title: title, Intro: intro, Runs: runs, Table: runTable(runs), Charts: charts(runs), Compare: true,
	})
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

type page struct {
	Title   string
	Intro   []string
	Runs    []Run
	Table   table
	Charts  []Chart
	Compare bool
}

func writeHTML(path string, p page) error {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, p); err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// table is the figures of one or more runs, one column per run.
type table struct {
	Heads []string
	Rows  []tableRow
}

type tableRow struct {
	Name  string
	Cells []string
	Bad   []bool
}

// refusalGoalMS is issue 13's bound on a refusal: when the broker cannot
// keep up, the web tier answers 503 within 100 ms instead of holding the
// request. A p99 above it is marked.
const refusalGoalMS = 100

func runTable(runs []Run) table {
	t := table{}
	for _, r := range runs {
		h := r.Summary.Label
		if h == "" {
			h = r.Summary.Transport + " mode"
		}
		t.Heads = append(t.Heads, h)
	}
	add := func(name string, cell func(s *Summary) (string, bool)) {
		row := tableRow{Name: name}
		for _, r := range runs {
			c, bad := cell(r.Summary)
			row.Cells = append(row.Cells, c)
			row.Bad = append(row.Bad, bad)
		}
		t.Rows = append(t.Rows, row)
	}
	ms := func(v float64) string {
		if v >= 1000 {
			return fmt.Sprintf("%.2f s", v/1000)
		}
		return fmt.Sprintf("%.1f ms", v)
	}
	pct := func(v float64) string { return fmt.Sprintf("%.2f %%", v*100) }
	add("transport", func(s *Summary) (string, bool) { return s.Transport, false })
	add("requests sent (planned)", func(s *Summary) (string, bool) {
		return fmt.Sprintf("%d (%d)", s.Requests, s.PlannedRequests), false
	})
	add("achieved rate (peak planned)", func(s *Summary) (string, bool) {
		return fmt.Sprintf("%.1f/s (%.0f/s)", s.Rate, s.PeakPlannedRate), false
	})
	add("success rate", func(s *Summary) (string, bool) { return pct(s.SuccessRate), s.SuccessRate < 0.99 })
	add("error rate (4xx, 5xx, no answer)", func(s *Summary) (string, bool) { return pct(s.ErrorRate), s.ErrorRate > 0.01 })
	add("timeout rate", func(s *Summary) (string, bool) { return pct(s.TimeoutRate), s.TimeoutRate > 0 })
	add("errors by status", func(s *Summary) (string, bool) { return codes(s.ErrorsByStatus), len(s.ErrorsByStatus) > 0 })
	add("latency p50 / p90 / p99 / max", func(s *Summary) (string, bool) {
		l := s.LatencyMS
		return ms(l.P50) + " / " + ms(l.P90) + " / " + ms(l.P99) + " / " + ms(l.Max), false
	})
	add("booking answer p50 / p99 (time to 202 or 201)", func(s *Summary) (string, bool) {
		return ms(s.BookingLatencyMS.P50) + " / " + ms(s.BookingLatencyMS.P99), false
	})
	add("refused (503) p50 / p99 / max (time to the 503)", func(s *Summary) (string, bool) {
		l := s.RefusedLatencyMS
		if l.N == 0 {
			return "none", false
		}
		return ms(l.P50) + " / " + ms(l.P99) + " / " + ms(l.Max), l.P99 > refusalGoalMS
	})
	add("booking requests: answers", func(s *Summary) (string, bool) { return codes(s.BookingAnswers), false })
	add("accepted bookings", func(s *Summary) (string, bool) { return fmt.Sprint(s.AcceptedBookings), false })
	add("final states", func(s *Summary) (string, bool) { return codes(s.FinalStates), false })
	add("time to confirmed p50 / p99", func(s *Summary) (string, bool) {
		if s.TimeToConfirmedMS == nil {
			return "not measured", false
		}
		return ms(s.TimeToConfirmedMS.P50) + " / " + ms(s.TimeToConfirmedMS.P99), false
	})
	add("time to all tasks done p50 / p99", func(s *Summary) (string, bool) {
		if s.TimeToSettledMS == nil {
			return "not measured", false
		}
		return ms(s.TimeToSettledMS.P50) + " / " + ms(s.TimeToSettledMS.P99), false
	})
	add("lost (no voucher, no email)", func(s *Summary) (string, bool) {
		d := s.LostDetail
		return fmt.Sprintf("%d (%d, %d)", s.Lost, d.NoVoucher, d.NoEmail), s.Lost > 0
	})
	add("late at the drain's end (not final, voucher pending, email pending)", func(s *Summary) (string, bool) {
		d := s.LateDetail
		return fmt.Sprintf("%d (%d, %d, %d)", s.Late, d.NotFinal, d.VoucherPending, d.EmailPending), s.Late > 0
	})
	add("duplicated (key→2 IDs, ID←2 keys, email twice)", func(s *Summary) (string, bool) {
		d := s.DuplicatedDetail
		return fmt.Sprintf("%d (%d, %d, %d)", s.Duplicated, d.KeysWithTwoIDs, d.IDsOfTwoKeys, d.EmailsSentTwice), s.Duplicated > 0
	})
	add("stored without an answer to the client", func(s *Summary) (string, bool) {
		if s.StoredBookings < 0 {
			return "not measured", false
		}
		return fmt.Sprintf("%d of %d stored", s.StoredUnacknowledged, s.StoredBookings), s.StoredUnacknowledged > 0
	})
	add("drain (queue empty)", func(s *Summary) (string, bool) {
		q := "not watched"
		if s.QueueDrainSeconds >= 0 {
			q = fmt.Sprintf("%.1f s", s.QueueDrainSeconds)
		}
		return fmt.Sprintf("%.1f s (%s)", s.DrainSeconds, q), s.DrainTimedOut
	})
	add("peak depth of commands.BookRoom", func(s *Summary) (string, bool) { return count(s.PeakQueueDepth), false })
	add("dead letters (peak depth of the dead-letter queue)", func(s *Summary) (string, bool) {
		return count(s.DeadLettered), s.DeadLettered != nil && *s.DeadLettered > 0
	})
	add("booking service time per booking (mean)", func(s *Summary) (string, bool) {
		if s.BookingServiceMS == 0 {
			return "not measured", false
		}
		return ms(s.BookingServiceMS), false
	})
	add("web: confirmed publish, mean (queue mode)", func(s *Summary) (string, bool) {
		if s.WebPublishMS == 0 {
			return "none", false
		}
		return ms(s.WebPublishMS), false
	})
	add("booking: Idempotency-Key lookup, mean (in the web request)", func(s *Summary) (string, bool) {
		if s.KeyLookupMS == 0 {
			return "none", false
		}
		return ms(s.KeyLookupMS), false
	})
	add("booking DB connections: peak active / mean active / peak waiting on a lock", func(s *Summary) (string, bool) {
		if s.DB == nil {
			return "not measured", false
		}
		return fmt.Sprintf("%d / %.1f / %d", s.DB.PeakActive, s.DB.MeanActive, s.DB.PeakWaiting), false
	})
	add("CPU seconds per service", func(s *Summary) (string, bool) { return floats(s.CPUSeconds, 1, ""), false })
	add("CPU ms per booking, services / whole machine", func(s *Summary) (string, bool) {
		c := s.CPUPerBooking
		if c == nil {
			return "not measured", false
		}
		return fmt.Sprintf("%.2f / %.2f (per booking %s)", c.ServicesMS, c.TotalMS, c.Basis), false
	})
	add("CPU ms per booking by part", func(s *Summary) (string, bool) {
		if s.CPUPerBooking == nil {
			return "not measured", false
		}
		m := map[string]float64{}
		for name, p := range s.CPUPerBooking.Parts {
			m[name] = p.MSPerBooking
		}
		return floats(m, 1, ""), false
	})
	add("peak memory per service", func(s *Summary) (string, bool) { return floats(s.PeakMemoryBytes, 1.0/(1<<20), " MiB"), false })
	return t
}

// count is a sampled figure, or "not measured".
func count(n *int) string {
	if n == nil {
		return "not measured"
	}
	return fmt.Sprint(*n)
}

func codes(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s: %d", k, m[k])
	}
	return out
}

func floats(m map[string]float64, scale float64, unit string) string {
	if len(m) == 0 {
		return "not measured"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %.1f%s", k, m[k]*scale, unit)
	}
	return out
}

// charts draws one set of charts; with several runs, each chart holds
// their lines side by side (the later runs dashed).
func charts(runs []Run) []Chart {
	compare := len(runs) > 1
	name := func(r Run, what string) string {
		if !compare {
			return what
		}
		l := r.Summary.Label
		if l == "" {
			l = r.Summary.Transport
		}
		return l + ": " + what
	}
	var band *[2]float64
	for _, r := range runs {
		if r.Timeline.Spike != nil {
			band = r.Timeline.Spike
		}
	}
	lat := Chart{Title: "Latency of the requests sent in each second", Unit: "ms", Band: band}
	rate := Chart{Title: "Requests per second, by outcome", Unit: "requests/s", Band: band}
	queue := Chart{Title: "Queue depth (messages ready)", Unit: "messages", Band: band}
	settled := Chart{Title: "Bookings accepted and settled (cumulative)", Unit: "bookings", Band: band}
	db := Chart{Title: "Booking database connections (pg_stat_activity)", Unit: "connections", Band: band}
	cpu := Chart{Title: "CPU per service", Unit: "% of one core", Band: band}
	mem := Chart{Title: "Memory per service (resident)", Unit: "MiB", Band: band}
	for i, r := range runs {
		tl := r.Timeline
		dashed := compare && i > 0
		col := func(c []float64) (xs, ys []float64) {
			for j, row := range tl.Seconds {
				xs = append(xs, float64(row.T))
				ys = append(ys, c[j])
			}
			return
		}
		pick := func(f func(Row) float64) []float64 {
			out := make([]float64, len(tl.Seconds))
			for j, row := range tl.Seconds {
				out[j] = f(row)
			}
			return out
		}
		add := func(c *Chart, what string, ys []float64, color string) {
			x, y := col(ys)
			c.Series = append(c.Series, Series{Name: name(r, what), X: x, Y: y, Dashed: dashed, Color: color})
		}
		if compare {
			add(&lat, "p50", pick(func(r Row) float64 { return r.P50 }), "")
			add(&lat, "p99", pick(func(r Row) float64 { return r.P99 }), "")
			add(&rate, "2xx/s", pick(func(r Row) float64 { return float64(r.C2xx) }), "")
			add(&rate, "5xx and no answer/s", pick(func(r Row) float64 { return float64(r.C5xx + r.Errors) }), "")
		} else {
			add(&lat, "p50", pick(func(r Row) float64 { return r.P50 }), "")
			add(&lat, "p90", pick(func(r Row) float64 { return r.P90 }), "")
			add(&lat, "p99", pick(func(r Row) float64 { return r.P99 }), "")
			add(&lat, "max", pick(func(r Row) float64 { return r.Max }), "#bbbbbb")
			add(&rate, "sent/s", pick(func(r Row) float64 { return float64(r.Sent) }), "")
			add(&rate, "2xx/s", pick(func(r Row) float64 { return float64(r.C2xx) }), "")
			add(&rate, "4xx/s", pick(func(r Row) float64 { return float64(r.C4xx) }), "")
			add(&rate, "5xx/s", pick(func(r Row) float64 { return float64(r.C5xx) }), "")
			add(&rate, "timeouts/s", pick(func(r Row) float64 { return float64(r.Timeouts) }), "")
			add(&rate, "other errors/s", pick(func(r Row) float64 { return float64(r.Errors - r.Timeouts) }), "")
		}
		acc := 0.0
		add(&settled, "accepted", pick(func(r Row) float64 { acc += float64(r.Accepted); return acc }), "")
		// The booking service counts the bookings its consumer settles; direct
		// mode's are not counted there, so its line comes from the answers
		// and the drain instead.
		counted := sampled(&settled, tl.Samples, name(r, "settled by booking"), dashed, "booking", sample.BookingsSettled, true)
		sampled(&settled, tl.Samples, name(r, "vouchers created"), dashed, "voucher", sample.VouchersCreated, true)
		sampled(&settled, tl.Samples, name(r, "emails sent"), dashed, "email", sample.EmailsSent, true)
		if !counted && len(tl.Final) > 0 {
			var xs, ys []float64
			for sec, n := range tl.Final {
				xs, ys = append(xs, float64(sec)), append(ys, float64(n))
			}
			settled.Series = append(settled.Series, Series{Name: name(r, "final (answer or drain)"), X: xs, Y: ys, Dashed: dashed})
		}
		queues := []string{messaging.BookRoomQueue}
		if !compare {
			for q, n := range r.Summary.PeakQueueDepths {
				if n > 0 && q != messaging.BookRoomQueue {
					queues = append(queues, q)
				}
			}
			slices.Sort(queues[1:])
		}
		for _, q := range queues {
			var xs, ys []float64
			for _, s := range tl.Samples {
				if n, ok := s.Queues[q]; ok {
					xs, ys = append(xs, s.At.Seconds()), append(ys, float64(n))
				}
			}
			if len(xs) > 0 {
				queue.Series = append(queue.Series, Series{Name: name(r, q), X: xs, Y: ys, Dashed: dashed})
			}
		}
		for _, what := range []string{"active", "idle in transaction", "waiting on a lock"} {
			var xs, ys []float64
			for _, s := range tl.Samples {
				if s.DB == nil {
					continue
				}
				v := map[string]int{"active": s.DB.Active, "idle in transaction": s.DB.IdleInTx, "waiting on a lock": s.DB.Waiting}[what]
				xs, ys = append(xs, s.At.Seconds()), append(ys, float64(v))
			}
			if len(xs) > 0 && (!compare || what != "idle in transaction") {
				db.Series = append(db.Series, Series{Name: name(r, what), X: xs, Y: ys, Dashed: dashed})
			}
		}
		for _, svc := range services(tl.Samples) {
			if compare && svc != "booking" && svc != "web" {
				continue
			}
			var xs, ys, mx, my []float64
			for j := 1; j < len(tl.Samples); j++ {
				a, b := tl.Samples[j-1], tl.Samples[j]
				ca, okA := a.Services[svc][sample.CPUSeconds]
				cb, okB := b.Services[svc][sample.CPUSeconds]
				if okA && okB && b.At > a.At {
					xs = append(xs, b.At.Seconds())
					ys = append(ys, (cb-ca)/(b.At-a.At).Seconds()*100)
				}
				if m, ok := b.Services[svc][sample.RSSBytes]; ok {
					mx, my = append(mx, b.At.Seconds()), append(my, m/(1<<20))
				}
			}
			cpu.Series = append(cpu.Series, Series{Name: name(r, svc), X: xs, Y: ys, Dashed: dashed})
			mem.Series = append(mem.Series, Series{Name: name(r, svc), X: mx, Y: my, Dashed: dashed})
		}
	}
	lat.LogY = spread(lat) > 50
	out := []Chart{lat, rate, queue, settled}
	if len(db.Series) > 0 {
		out = append(out, db)
	}
	out = append(out, cpu, mem)
	// One time scale for every chart, so the spike sits in the same place.
	xMax := 0.0
	for _, c := range out {
		for _, s := range c.Series {
			for _, x := range s.X {
				xMax = math.Max(xMax, x)
			}
		}
	}
	for i := range out {
		out[i].XMax = xMax
	}
	return out
}

// sampled adds a series of one service figure (as the change since the
// first sample, with delta) if it ever moved, and reports whether it did.
func sampled(c *Chart, samples []sample.Sample, name string, dashed bool, svc, key string, delta bool) bool {
	var xs, ys []float64
	moved := false
	base := math.NaN()
	for _, s := range samples {
		f, ok := s.Services[svc]
		if !ok {
			continue // not scraped this time
		}
		v := f[key] // a counter not exported yet has counted nothing
		if math.IsNaN(base) {
			base = v
		}
		if delta {
			v -= base
		}
		moved = moved || v != 0
		xs, ys = append(xs, s.At.Seconds()), append(ys, v)
	}
	if moved {
		c.Series = append(c.Series, Series{Name: name, X: xs, Y: ys, Dashed: dashed})
	}
	return moved
}

func services(samples []sample.Sample) []string {
	seen := map[string]bool{}
	for _, s := range samples {
		for svc := range s.Services {
			seen[svc] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// spread is the ratio of the largest to the smallest positive value.
func spread(c Chart) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, s := range c.Series {
		for _, y := range s.Y {
			if y > 0 {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
	}
	if hi == 0 {
		return 0
	}
	return hi / lo
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1600px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.bad { background: #fde8e8; color: #a00; font-weight: 600; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); gap: 18px; }
svg { background: #fff; border: 1px solid #e5e5e5; width: 100%; height: auto; }
svg .title { font-size: 14px; font-weight: 600; }
svg .grid { stroke: #eee; }
svg .ytick { font-size: 11px; text-anchor: end; fill: #555; }
svg .xtick { font-size: 11px; text-anchor: middle; fill: #555; }
svg .axis { font-size: 11px; text-anchor: middle; fill: #555; }
svg .legend { font-size: 11px; fill: #333; }
svg .band { fill: #ffefc2; opacity: .6; }
svg .bandlabel { font-size: 11px; fill: #a07000; }
svg .empty { font-size: 13px; fill: #999; }
.notes li { margin-bottom: 4px; }
code { background: #f3f3f3; padding: 0 3px; }
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Intro}}<p>{{.}}</p>{{end}}
{{range .Runs}}<p>{{if .Summary.Label}}<b>{{.Summary.Label}}</b>: {{end}}target <code>{{.Summary.Target}}</code>, scenario <b>{{.Summary.Scenario}}</b>, {{.Summary.Profile}}, started {{.Summary.StartedAt.Format "2006-01-02 15:04:05"}} UTC.</p>{{end}}
<h2>Figures</h2>
<table><tr><th></th>{{range .Table.Heads}}<th>{{.}}</th>{{end}}</tr>
{{range .Table.Rows}}{{$bad := .Bad}}<tr><th>{{.Name}}</th>{{range $i, $c := .Cells}}<td{{if index $bad $i}} class="bad"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table>
<h2>Charts</h2>
<p>X axis: seconds since the load started. Latency and outcomes are by the second each request was <i>sent</i>; the other charts are sampled every second, through the drain after the load.{{if .Compare}} Solid lines: the first run; dashed: the second.{{end}}</p>
<div class="charts">{{range .Charts}}{{.SVG}}{{end}}</div>
{{range .Runs}}
<h2>Consistency checks{{if .Summary.Label}}: {{.Summary.Label}}{{end}}</h2>
<table><tr><th>check</th><th>status</th><th>checked</th><th>missing</th><th>twice</th><th>note</th></tr>
{{range $name, $c := .Summary.Checks}}<tr><td>{{$name}}</td><td{{if eq $c.Status "failed"}} class="bad"{{end}}>{{$c.Status}}</td><td>{{$c.Checked}}</td><td>{{$c.Missing}}</td><td>{{$c.Twice}}</td><td>{{$c.Note}}</td></tr>
{{end}}</table>
{{with .Summary.Slowest}}<h3>Slowest bookings, with their traces</h3>
<p>By the time to their last task when the drain saw it, else by the time to the answer. Every request of the run carried its own <code>traceparent</code> and the baggage <code>staybook.synthetic=loadtest</code> (a span attribute in every service).</p>
<table><tr><th>booking</th><th>answer</th><th>all tasks done</th><th>trace</th></tr>
{{range .}}<tr><td><code>{{.ID}}</code></td><td>{{printf "%.1f ms" .AnswerMS}}</td><td>{{if .SettledMS}}{{printf "%.1f ms" .SettledMS}}{{else}}not measured{{end}}</td><td>{{if .TraceURL}}<a href="{{.TraceURL}}">{{.TraceID}}</a>{{else}}<code>{{.TraceID}}</code>{{end}}</td></tr>
{{end}}</table>{{end}}
<ul class="notes">{{range .Summary.Notes}}<li>{{.}}</li>{{end}}</ul>
{{end}}
<p style="color:#888">Made by Staybook's load test (loadtest/, docs/loadtest.md). The charts are inline SVG: this page needs no network.</p>
</body></html>
`))
