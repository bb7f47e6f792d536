package compare

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/report"
)

// AsyncConfig is the background-tasks demo: a few bookings, one at a time,
// with the story's slow tasks, done in the request (direct) and by workers (queue).
type AsyncConfig struct {
	Bookings int
	Rate     float64
	// TxDelay, VoucherLatency, EmailLatency, NotificationLatency: the story's
	// 30 + 1000 + 500 + 1000 ms.
	TxDelay, VoucherLatency, EmailLatency, NotificationLatency time.Duration
	OutDir                                                     string
	Out                                                        io.Writer
}

// Async runs the demo and prints its table.
func Async(ctx context.Context, cfg AsyncConfig) ([]report.Run, error) {
	if cfg.Bookings <= 0 {
		cfg.Bookings = 10
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 2
	}
	d := time.Duration(float64(cfg.Bookings) / cfg.Rate * float64(time.Second))
	intro := []string{fmt.Sprintf(
		"The four steps of a booking: the booking transaction (BOOKING_TX_DELAY=%s), the PDF voucher (VOUCHER_EXTRA_LATENCY=%s), "+
			"the confirmation email (EMAIL_EXTRA_LATENCY=%s) and the notification (NOTIFICATION_EXTRA_LATENCY=%s). "+
			"Direct mode does them all in the customer's request; queue mode answers 202 once the command is queued and does them in workers.",
		cfg.TxDelay, cfg.VoucherLatency, cfg.EmailLatency, cfg.NotificationLatency)}
	runs, err := Runs(ctx, Config{
		Modes: []string{Direct, Queue}, Scenario: "book", Profile: pace.Constant(cfg.Rate, d),
		Timeout: 30 * time.Second, DrainTimeout: time.Minute, RepeatShareNone: true,
		Env: map[string]string{
			"BOOKING_TX_DELAY": cfg.TxDelay.String(), "VOUCHER_EXTRA_LATENCY": cfg.VoucherLatency.String(),
			"EMAIL_EXTRA_LATENCY": cfg.EmailLatency.String(), "NOTIFICATION_EXTRA_LATENCY": cfg.NotificationLatency.String(),
		},
		OutDir: cfg.OutDir, Out: cfg.Out,
	})
	if len(runs) > 0 {
		if werr := report.WriteCompare(cfg.OutDir, "Staybook: background tasks in the request or in workers", intro, runs); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return runs, err
	}
	PrintAsync(cfg.Out, cfg, runs)
	return runs, nil
}

// PrintAsync prints the demo's table: what the customer waited for, and when the work was done.
func PrintAsync(w io.Writer, cfg AsyncConfig, runs []report.Run) {
	sum := cfg.TxDelay + cfg.VoucherLatency + cfg.EmailLatency + cfg.NotificationLatency
	fmt.Fprintf(w, "\nBackground tasks: %d bookings at %.0f/s; the steps add up to %s in the request (%s + %s + %s + %s)\n\n",
		cfg.Bookings, cfg.Rate, sum, cfg.TxDelay, cfg.VoucherLatency, cfg.EmailLatency, cfg.NotificationLatency)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprint(tw, "measured (p50 / max)")
	for _, r := range runs {
		name := map[string]string{Direct: "in the request (direct)", Queue: "in workers (queue)"}[r.Summary.Label]
		fmt.Fprintf(tw, "\t%s", name)
	}
	fmt.Fprintln(tw)
	row := func(name string, f func(s *report.Summary) string) {
		fmt.Fprint(tw, name)
		for _, r := range runs {
			fmt.Fprintf(tw, "\t%s", f(r.Summary))
		}
		fmt.Fprintln(tw)
	}
	lat := func(l *report.Latency) string {
		if l == nil || l.N == 0 {
			return "not measured"
		}
		return fmtMS(l.P50) + " / " + fmtMS(l.Max)
	}
	row("customer waits for the answer", func(s *report.Summary) string {
		return lat(&s.BookingWaitMS) + " (" + codes(s.BookingAnswers) + ")"
	})
	row("booking confirmed after", func(s *report.Summary) string { return lat(s.TimeToConfirmedMS) })
	row("voucher, email, notification done after", func(s *report.Summary) string { return lat(s.TimeToSettledMS) })
	row("lost / duplicated / late", func(s *report.Summary) string { return fmt.Sprintf("%d / %d / %d", s.Lost, s.Duplicated, s.Late) })
	tw.Flush()
	fmt.Fprintf(w, "\nreport: %s/report.html\n", cfg.OutDir)
}

func fmtMS(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func codes(m map[string]int) string {
	out := ""
	for _, k := range []string{"200", "201", "202", "503", "timeout", "transport"} {
		if m[k] > 0 {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%d× %s", m[k], k)
		}
	}
	return out
}
