package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/staybook/staybook/loadtest/internal/cpucost"
	"github.com/staybook/staybook/loadtest/internal/record"
)

// ProgressLine is the line printed every second while the load runs. The
// rate is of requests sent (over record.RateWindow), not answered: when
// answers take seconds, a rate of answers would read 0 while the load
// goes on.
func ProgressLine(p record.Progress, depth int, hasDepth bool) string {
	q := "-"
	if hasDepth {
		q = fmt.Sprint(depth)
	}
	return fmt.Sprintf("%6.1fs  sent %7d  rate %6.1f/s  in flight %5d  2xx %7d  4xx %5d  5xx %5d  no answer %5d  p99 %8s  accepted %6d  queue %s",
		p.Elapsed.Seconds(), p.Sent, p.Rate, p.Sent-p.Answered, p.C2xx, p.C4xx, p.C5xx, p.Errors, p.P99.Round(time.Millisecond/10), p.Accepted, q)
}

// PrintSummary prints the run's figures.
func PrintSummary(w io.Writer, s *Summary) {
	PrintTable(w, []Run{{Summary: s}})
	for _, name := range []string{"voucher", "email", "emails_received", "webhooks", "booking_times"} {
		if c, ok := s.Checks[name]; ok {
			fmt.Fprintf(w, "  check %-16s %-10s checked %d, missing %d, late %d, twice %d  %s\n", name, c.Status, c.Checked, c.Missing, c.Late, c.Twice, c.Note)
		}
	}
	if len(s.Slowest) > 0 {
		fmt.Fprintln(w, "\nslowest bookings (answer, all tasks done, trace):")
		for _, b := range s.Slowest {
			settled := "not measured"
			if b.SettledMS > 0 {
				settled = fmt.Sprintf("%.0fms", b.SettledMS)
			}
			trace := b.TraceURL
			if trace == "" {
				trace = b.TraceID
			}
			fmt.Fprintf(w, "  %s  %8.1fms  %12s  %s\n", b.ID, b.AnswerMS, settled, trace)
		}
	}
	if c := s.CPUPerBooking; c != nil {
		fmt.Fprintf(w, "\nCPU per booking (%d %s; the whole machine from /proc, from the load's start to the drain's end):\n", c.Bookings, c.Basis)
		for _, name := range cpucost.Parts(c.Parts) {
			p := c.Parts[name]
			ended := ""
			if p.Ended > 0 {
				ended = fmt.Sprintf(", %d ended during the run (their CPU missing)", p.Ended)
			}
			fmt.Fprintf(w, "  %-13s %8.2f ms  %8.2f CPU-s  %3d processes%s\n", name, p.MSPerBooking, p.Seconds, p.Processes, ended)
		}
		fmt.Fprintf(w, "  %-13s %8.2f ms\n  %-13s %8.2f ms\n", "services", c.ServicesMS, "all", c.TotalMS)
	}
	fmt.Fprintf(w, "\nlost %d, duplicated %d, late %d\n", s.Lost, s.Duplicated, s.Late)
	if s.Late > 0 {
		fmt.Fprintf(w, "late: %d bookings or their tasks were still in progress when the drain ended after %.1fs (%s): neither done nor seen lost; a longer -drain-timeout tells which\n",
			s.Late, s.DrainSeconds, drainEnd(s))
	}
}

// PrintTable prints the figures of runs side by side.
func PrintTable(w io.Writer, runs []Run) {
	t := runTable(runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\t%s\n", strings.Join(t.Heads, "\t"))
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name, strings.Join(r.Cells, "\t"))
	}
	tw.Flush()
}

func drainEnd(s *Summary) string {
	if s.Interrupted {
		return "the run was stopped"
	}
	return "its timeout"
}
