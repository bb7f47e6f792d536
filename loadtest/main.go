// Command loadtest loads Staybook's public API with vegeta and reports what
// the customers saw and whether every accepted booking was settled once.
//
//	go run . [run] [flags]    one run against a running Staybook (make dev)
//	go run . compare [flags]  the same spike in queue and in direct mode, on stacks of its own
//	go run . demo-spike       compare with the demo's settings, and the evidence
//	go run . demo-async       background tasks in the request versus in workers
//	go run . demo-dlq         a failing email: retries, dead letter, fix, replay, one email
//
// docs/loadtest.md explains the flags and the report.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/staybook/staybook/loadtest/internal/compare"
	"github.com/staybook/staybook/loadtest/internal/dlq"
	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/report"
	"github.com/staybook/staybook/loadtest/internal/run"
)

// Exit codes: 1 lost or duplicated bookings, 2 the run itself failed, 3
// nothing lost or duplicated seen but some bookings still in progress when
// the drain ended (late: not known to be settled).
const (
	exitFound  = 1
	exitFailed = 2
	exitLate   = 3
)

func main() {
	// SIGINT or SIGTERM stops the load, cuts the drain short and still
	// writes the summary and the report; a second signal ends the process
	// at once (the default action, back once stop has run).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	ctx, stopWatching := stopWithGoRun(ctx, time.Second)
	defer stopWatching()
	code, err := dispatch(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		code, err = 0, nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
	}
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, out io.Writer) (int, error) {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runCommand(ctx, args, out)
	case "compare", "demo-spike":
		return compareCommand(ctx, cmd, args, out)
	case "demo-async":
		return asyncCommand(ctx, args, out)
	case "demo-dlq":
		return dlqCommand(ctx, args, out)
	default:
		return exitFailed, fmt.Errorf("unknown command %q: want run, compare, demo-spike, demo-async or demo-dlq", cmd)
	}
}

// loadFlags are the flags every command shares.
type loadFlags struct {
	scenario, profile           string
	rate, spikeFactor           float64
	duration, spikeAt, spikeFor time.Duration
	timeout, drainTimeout       time.Duration
	maxWorkers, seed            uint64
	out                         string
}

func (l *loadFlags) register(fs *flag.FlagSet, scenario, profile string, rate float64, duration time.Duration) {
	fs.StringVar(&l.scenario, "scenario", scenario, "browse, book or mixed")
	fs.StringVar(&l.profile, "profile", profile, "constant, ramp (rate/10 up to -rate) or spike (-spike-factor times -rate for a part of the run)")
	fs.Float64Var(&l.rate, "rate", rate, "requests per second: the constant rate, the top of the ramp, the spike's baseline")
	fs.DurationVar(&l.duration, "duration", duration, "length of the load (the drain comes after)")
	fs.Float64Var(&l.spikeFactor, "spike-factor", 10, "spike: the burst's rate as a multiple of -rate")
	fs.DurationVar(&l.spikeAt, "spike-at", 0, "spike: when the burst starts (default: a third into the run)")
	fs.DurationVar(&l.spikeFor, "spike-for", 0, "spike: how long the burst lasts (default: a third of the run)")
	fs.DurationVar(&l.timeout, "timeout", 10*time.Second, "how long a client waits for an answer (a timeout is an error)")
	fs.DurationVar(&l.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait after the load for every accepted booking to settle")
	fs.Uint64Var(&l.maxWorkers, "max-workers", 2000, "most requests in flight at once (open connections)")
	fs.Uint64Var(&l.seed, "seed", uint64(time.Now().UnixNano()), "seed of the request sequence (for a repeatable run)")
	fs.StringVar(&l.out, "out", "", "output folder (default out/<timestamp>)")
}

func (l *loadFlags) pace() (pace.Profile, error) {
	return pace.Parse(l.profile, l.rate, l.duration, l.spikeFactor, l.spikeAt, l.spikeFor)
}

func (l *loadFlags) outDir() string {
	if l.out != "" {
		return l.out
	}
	return filepath.Join("out", time.Now().Format("20060102-150405"))
}

func runCommand(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var l loadFlags
	l.register(fs, "mixed", "constant", 50, 30*time.Second)
	mode := fs.String("mode", "run", "run, or compare (the same as the compare command)")
	target := fs.String("target", "http://localhost:8080", "the web tier")
	token := fs.String("token", defaultLoadTestToken(), "the web tier's LOADTEST_TOKEN, sent so that the rate limit lets the load through (default: $LOADTEST_TOKEN, else LOADTEST_TOKEN in the repository's .env)")
	bookShare := fs.Float64("book-share", 0.15, "mixed: share of booking requests")
	repeatShare := fs.Float64("repeat-share", 0.05, "share of booking requests sent again with the same Idempotency-Key (negative: none)")
	amqpURL := fs.String("amqp-url", "amqp://guest:guest@localhost:5672/", "RabbitMQ, for queue depths (empty: not sampled)")
	bookingURL := fs.String("booking-url", "http://localhost:8081", "booking service: metrics, booking times (empty: left out)")
	voucherURL := fs.String("voucher-url", "http://localhost:8082", "voucher service: metrics, one voucher per confirmed booking (empty: left out)")
	emailURL := fs.String("email-url", "http://localhost:8083", "email service: metrics, one email sent per confirmed booking (empty: left out)")
	notificationURL := fs.String("notification-url", "http://localhost:8084", "notification service: metrics (empty: left out)")
	mailpitURL := fs.String("mailpit-url", "http://localhost:8025", "Mailpit: emails counted per booking by Message-ID (empty: left out)")
	bookingDB := fs.String("booking-db-url", "", "booking database (read only): connections by state and bookings stored, e.g. postgres://postgres@localhost:5432/staybook_booking?sslmode=disable")
	prometheusURL := fs.String("prometheus-url", "", "Prometheus: service figures summed over replicas, instead of each service's /metrics (docker compose)")
	jaegerURL := fs.String("jaeger-url", "http://localhost:16686", "Jaeger's UI: the report links the slowest bookings to their traces (empty: IDs only)")
	traceShare := fs.Float64("trace-share", 1, "share of requests traced (sampled); the rest are not recorded, so a long run leaves whole traces within Jaeger's cap")
	if err := fs.Parse(args); err != nil {
		return exitFailed, err
	}
	if err := flagsFromEnv(fs, os.LookupEnv); err != nil {
		return exitFailed, err
	}
	if *mode == "compare" {
		return compareCommand(ctx, "compare", args, out)
	}
	profile, err := l.pace()
	if err != nil {
		return exitFailed, err
	}
	dir := l.outDir()
	r, err := run.Run(ctx, run.Config{
		Target: strings.TrimRight(*target, "/"), LoadTestToken: *token, Scenario: l.scenario, Profile: profile, BookShare: *bookShare,
		RepeatShare: *repeatShare, TraceShare: *traceShare, Seed: l.seed, Timeout: l.timeout, MaxWorkers: l.maxWorkers, DrainTimeout: l.drainTimeout,
		AMQPURL: *amqpURL, BookingURL: *bookingURL, VoucherURL: *voucherURL, EmailURL: *emailURL,
		NotificationURL: *notificationURL, MailpitURL: *mailpitURL, BookingDatabaseURL: *bookingDB,
		PrometheusURL: *prometheusURL, JaegerURL: *jaegerURL, OutDir: dir, Out: out,
	})
	if err != nil {
		return exitFailed, err
	}
	fmt.Fprintln(out)
	report.PrintSummary(out, r.Summary)
	fmt.Fprintf(out, "report: %s\n", filepath.Join(dir, "report.html"))
	return verdict(r.Summary)
}

// EnvPrefix: every flag of a run can also be set in the environment, as
// LOADTEST_ and the flag's name in capitals with _ for - (-amqp-url is
// LOADTEST_AMQP_URL). A flag on the command line wins. The compose profile
// sets them, so that credentials stay out of the command line.
const EnvPrefix = "LOADTEST_"

// flagsFromEnv sets every flag not given on the command line from its
// LOADTEST_ variable, if that is set (to an empty value too: "not sampled").
func flagsFromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookup(name); ok && !given[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func verdict(sums ...*report.Summary) (int, error) {
	var found, late []error
	for _, s := range sums {
		if s.Lost > 0 || s.Duplicated > 0 {
			found = append(found, fmt.Errorf("%s: %d bookings lost, %d duplicated", s.Label+" "+s.Transport, s.Lost, s.Duplicated))
		}
		if s.Late > 0 {
			late = append(late, fmt.Errorf("%s: %d bookings late, still in progress when the drain ended after %.1fs: not known to be settled (a longer -drain-timeout tells)",
				s.Label+" "+s.Transport, s.Late, s.DrainSeconds))
		}
	}
	switch {
	case len(found) > 0:
		return exitFound, errors.Join(append(found, late...)...)
	case len(late) > 0:
		return exitLate, errors.Join(late...)
	}
	return 0, nil
}

func compareCommand(ctx context.Context, cmd string, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var l loadFlags
	// 10/s with a burst to 100/s: on two cores running the whole system,
	// enough to take direct mode past its timeouts while the queue absorbs it.
	l.register(fs, "book", "spike", 10, 30*time.Second)
	fs.String("mode", "compare", "ignored (compare)")
	txDelay := fs.Duration("tx-delay", 50*time.Millisecond, "BOOKING_TX_DELAY: every booking transaction's extra time")
	dbConns := fs.Int("db-max-conns", 4, "BOOKING_DB_MAX_CONNS: the booking database's connection budget")
	workers := fs.Int("booking-workers", 4, "BOOKING_WORKERS: BookRoom commands handled at once in queue mode")
	modes := fs.String("modes", "queue,direct", "the web tier's modes to run, in order")
	if err := fs.Parse(args); err != nil {
		return exitFailed, err
	}
	profile, err := l.pace()
	if err != nil {
		return exitFailed, err
	}
	dir := l.outDir()
	intro := []string{
		fmt.Sprintf("The same load (%s, scenario %s) against two stacks started for the purpose on this machine, one after the other: "+
			"the web tier in queue mode (202 once RabbitMQ has the command; booking workers drain the queue) and in direct mode "+
			"(BOOKING_TRANSPORT=direct: web calls booking, which books and then calls voucher, email and notification over HTTP, answering 201 at the end).", profile, l.scenario),
		fmt.Sprintf("The booking database is made the bottleneck: BOOKING_TX_DELAY=%s, BOOKING_DB_MAX_CONNS=%d, BOOKING_WORKERS=%d. Customers give up after %s.",
			*txDelay, *dbConns, *workers, l.timeout),
	}
	runs, err := compare.Spike(ctx, compare.Config{
		Modes: strings.Split(*modes, ","), Scenario: l.scenario, Profile: profile, Timeout: l.timeout, MaxWorkers: l.maxWorkers,
		DrainTimeout: l.drainTimeout, Seed: l.seed, OutDir: dir, Out: out, Intro: intro,
		Env: map[string]string{
			"BOOKING_TX_DELAY": txDelay.String(), "BOOKING_DB_MAX_CONNS": fmt.Sprint(*dbConns), "BOOKING_WORKERS": fmt.Sprint(*workers),
		},
	})
	// Stopped (SIGINT, SIGTERM): the modes that ran still get their table.
	stopped := err != nil && ctx.Err() != nil && len(runs) > 0
	if err != nil && !stopped {
		return exitFailed, err
	}
	fmt.Fprintln(out)
	if stopped {
		fmt.Fprintf(out, "stopped: %d of the modes %s ran\n", len(runs), *modes)
	}
	report.PrintTable(out, runs)
	printEvidence(out, runs)
	fmt.Fprintf(out, "\nreport: %s\n", filepath.Join(dir, "report.html"))
	sums := make([]*report.Summary, len(runs))
	for i, r := range runs {
		sums[i] = r.Summary
	}
	return verdict(sums...)
}

// printEvidence says in words what the comparison shows.
func printEvidence(out io.Writer, runs []report.Run) {
	fmt.Fprintln(out, "\nWhat the customers saw:")
	for _, r := range runs {
		s := r.Summary
		answer := map[string]string{"queue": "202 Accepted", "direct": "201 Created"}[s.Transport]
		ok := s.BookingAnswers["202"] + s.BookingAnswers["201"] + s.BookingAnswers["200"]
		pctOf := func(n int) float64 {
			if s.BookingRequests == 0 {
				return 0
			}
			return float64(n) / float64(s.BookingRequests) * 100
		}
		fmt.Fprintf(out, "  %-6s %5.1f%% of %d booking requests got %s, p50 %s, p99 %s; %.1f%% 503, %.1f%% timed out after the client's timeout\n",
			s.Label, pctOf(ok), s.BookingRequests, answer, ms(s.BookingLatencyMS.P50), ms(s.BookingLatencyMS.P99),
			pctOf(s.BookingAnswers["503"]), pctOf(s.BookingAnswers["timeout"]))
		if s.TimeToConfirmedMS != nil {
			fmt.Fprintf(out, "         booking confirmed after p50 %s, p99 %s; every task done after p99 %s\n",
				ms(s.TimeToConfirmedMS.P50), ms(s.TimeToConfirmedMS.P99), ms(s.TimeToSettledMS.P99))
		}
		if s.WebPublishMS > 0 {
			fmt.Fprintf(out, "         web tier: a confirmed publish took %s on average\n", ms(s.WebPublishMS))
		}
		if s.KeyLookupMS > 0 {
			fmt.Fprintf(out, "         the booking service answered the web tier's Idempotency-Key lookups in %s on average\n", ms(s.KeyLookupMS))
		}
		if s.DB != nil {
			fmt.Fprintf(out, "         booking database: peak %d active connections (mean %.1f), %d waiting on a lock; booking service time per booking %s\n",
				s.DB.PeakActive, s.DB.MeanActive, s.DB.PeakWaiting, ms(s.BookingServiceMS))
		}
		peak := "not measured"
		if s.PeakQueueDepth != nil {
			peak = fmt.Sprint(*s.PeakQueueDepth)
		}
		fmt.Fprintf(out, "         backlog: peak %s commands queued, empty %.1fs after the load; lost %d, duplicated %d, late %d; stored without an answer %d\n",
			peak, s.QueueDrainSeconds, s.Lost, s.Duplicated, s.Late, s.StoredUnacknowledged)
	}
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

func asyncCommand(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("demo-async", flag.ContinueOnError)
	bookings := fs.Int("bookings", 10, "bookings sent")
	rate := fs.Float64("rate", 2, "bookings per second")
	dir := fs.String("out", "", "output folder (default out/<timestamp>-async)")
	if err := fs.Parse(args); err != nil {
		return exitFailed, err
	}
	if *dir == "" {
		*dir = filepath.Join("out", time.Now().Format("20060102-150405")+"-async")
	}
	runs, err := compare.Async(ctx, compare.AsyncConfig{
		Bookings: *bookings, Rate: *rate, TxDelay: 30 * time.Millisecond, VoucherLatency: time.Second,
		EmailLatency: 500 * time.Millisecond, NotificationLatency: time.Second, OutDir: *dir, Out: out,
	})
	if err != nil {
		return exitFailed, err
	}
	sums := make([]*report.Summary, len(runs))
	for i, r := range runs {
		sums[i] = r.Summary
	}
	return verdict(sums...)
}

func dlqCommand(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("demo-dlq", flag.ContinueOnError)
	attempts := fs.Int("max-attempts", 4, "SEND_CONFIRMATION_EMAIL_MAX_ATTEMPTS")
	initial := fs.Duration("initial-interval", 200*time.Millisecond, "SEND_CONFIRMATION_EMAIL_INITIAL_INTERVAL")
	mult := fs.Float64("multiplier", 2, "SEND_CONFIRMATION_EMAIL_MULTIPLIER")
	jitter := fs.Float64("randomization-factor", 0.2, "SEND_CONFIRMATION_EMAIL_RANDOMIZATION_FACTOR")
	dir := fs.String("out", "", "output folder for services.log (default out/<timestamp>-dlq)")
	if err := fs.Parse(args); err != nil {
		return exitFailed, err
	}
	if _, err := dlq.Run(ctx, dlq.Config{
		MaxAttempts: *attempts, InitialInterval: *initial, Multiplier: *mult, RandomizationFactor: *jitter,
		OutDir: *dir, Out: out,
	}); err != nil {
		return exitFound, err
	}
	return 0, nil
}
