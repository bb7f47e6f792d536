package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Mode     string
	Started  time.Time
	Duration time.Duration
	Rate     float64
	Stream   StreamStats
	// Confirmed and Rejected count the stored bookings; Reasons the rejections.
	Confirmed, Rejected int
	Reasons             map[string]int
	// SettleP50 and SettleP99: 202 to settled, away from the faults.
	SettleP50, SettleP99 time.Duration
	Faults               []FaultRecord
	Checks               []Check
	// LogCounts: lines of the services' logs worth knowing about, by process.
	LogCounts map[string]map[string]int
	// Notes are observations that are not verdicts.
	Notes []string
}

// Violations are the checks that failed.
func (r *Report) Violations() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Print writes the report as text.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\nStaybook chaos run (%s), %s, %s, %.0f bookings/s\n", r.Mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), round(r.Duration), r.Rate)
	st := r.Stream
	fmt.Fprintf(w, "bookings: %d offered, %d accepted (%d confirmed, %d rejected %s); %d attempts refused or unanswered %s; %d ticks skipped (every client busy retrying)\n",
		st.Offered, st.Accepted, r.Confirmed, r.Rejected, counts(r.Reasons), total(st.Refused), counts(st.Refused), st.Skipped)
	fmt.Fprintf(w, "202 to settled (voucher, email, notification done) away from faults: p50 %s, p99 %s\n\n", round(r.SettleP50), round(r.SettleP99))
	fmt.Fprintf(w, "%-48s %10s %10s %10s %8s  %s\n", "fault", "down", "recovery", "no 202 for", "refused", "notes")
	for _, f := range r.Faults {
		fmt.Fprintf(w, "%-48s %10s %10s %10s %8d  %s\n", f.Name, round(f.Downtime), recoveryText(&f), round(f.AcceptGap), f.Refused,
			strings.Join(append(f.Notes, errNote(f.Err)...), "; "))
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		verdict := "PASS"
		if !c.OK {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s: %s\n", verdict, c.Name, c.Detail)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.LogCounts) > 0 {
		fmt.Fprintln(w, "\nlog lines:")
		for _, p := range sortedKeys(r.LogCounts) {
			fmt.Fprintf(w, "  %q: %s\n", p, counts(r.LogCounts[p]))
		}
	}
}

// Markdown writes the figures as tables (docs/results/reliability.md).
func (r *Report) Markdown(w io.Writer) {
	st := r.Stream
	fmt.Fprintf(w, "Run: %s mode, %s, %s, %.0f bookings/s.\n\n", r.Mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), round(r.Duration), r.Rate)
	fmt.Fprintf(w, "Bookings: %d accepted (%d confirmed, %d rejected %s); %d attempts refused or unanswered %s, each retried with its key. ",
		st.Accepted, r.Confirmed, r.Rejected, counts(r.Reasons), total(st.Refused), counts(st.Refused))
	fmt.Fprintf(w, "From 202 to settled (voucher, email and notification done), away from the faults: p50 %s, p99 %s.\n\n", round(r.SettleP50), round(r.SettleP99))
	fmt.Fprintln(w, "| fault | down | recovery | no 202 for | refused attempts | notes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
	for _, f := range r.Faults {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s |\n", f.Name, round(f.Downtime), recoveryText(&f), round(f.AcceptGap), f.Refused,
			strings.Join(append(f.Notes, errNote(f.Err)...), "; "))
	}
	fmt.Fprintln(w, "\n| check | result | detail |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, c := range r.Checks {
		verdict := "pass"
		if !c.OK {
			verdict = "**FAIL**"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", c.Name, verdict, strings.ReplaceAll(c.Detail, "|", "/"))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s.\n", n)
	}
}

func errNote(err string) []string {
	if err == "" {
		return nil
	}
	return []string{"ERROR: " + err}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "(none)"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
