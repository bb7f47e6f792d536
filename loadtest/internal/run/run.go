// Package run is one load run from start to report: read the catalogue,
// send the scenario at the profile's rate with vegeta (printing a line a
// second), sample the system meanwhile, drain the backlog, check the
// bookings, and write the summary and the report.
package run

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/staybook/staybook/loadtest/internal/cpucost"
	"github.com/staybook/staybook/loadtest/internal/localstack"
	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/record"
	"github.com/staybook/staybook/loadtest/internal/report"
	"github.com/staybook/staybook/loadtest/internal/sample"
	"github.com/staybook/staybook/loadtest/internal/scenario"
	"github.com/staybook/staybook/loadtest/internal/settle"
	"github.com/staybook/staybook/shared/messaging"
)

// Config is one run.
type Config struct {
	// Label names the run in reports (e.g. "queue" or "direct").
	Label string
	// Target is the web tier's base URL.
	Target string
	// LoadTestToken (LOADTEST_TOKEN), if set, goes with every request to
	// the target in LoadTestTokenHeader.
	LoadTestToken string
	Scenario      string
	Profile       pace.Profile
	// BookShare, RepeatShare, TraceShare, Seed: see scenario.Config.
	BookShare, RepeatShare, TraceShare float64
	Seed                               uint64
	// Timeout is how long a client waits for an answer.
	Timeout time.Duration
	// Workers and MaxWorkers bound vegeta's senders (MaxWorkers bounds the
	// requests in flight, so also the open connections).
	Workers, MaxWorkers uint64
	// DrainTimeout bounds the wait for the backlog after the load.
	DrainTimeout time.Duration
	// AMQPURL: queue depths (empty: not sampled).
	AMQPURL string
	// PrometheusURL, if set, is where the service figures come from,
	// summed over each service's replicas (docker compose); otherwise each
	// service's /metrics is scraped.
	PrometheusURL string
	// JaegerURL is Jaeger's UI, for the slowest bookings' trace links.
	JaegerURL string
	// Service URLs: metrics and consistency checks (empty: left out).
	BookingURL, VoucherURL, EmailURL, NotificationURL string
	// MailpitURL: emails counted per booking, if reachable.
	MailpitURL string
	// BookingDatabaseURL: connections sampled and bookings counted (empty: not).
	BookingDatabaseURL string
	// Emails and Notifications count per booking (a local stack's sinks).
	Emails        settle.EmailCounter
	Notifications settle.NotificationCounter
	// OutDir receives summary.json, timeline.json and report.html.
	OutDir string
	// Out receives the progress lines and the summary (nil: silent).
	Out    io.Writer
	Logger *slog.Logger
	// Notes are added to the summary.
	Notes []string
}

// ProcRoot is where the processes' CPU times are read (see cpucost).
const ProcRoot = "/proc"

// StoppedDrain is how long a stopped run (its context ended) still drains
// and checks before it writes what it saw: within the 10 s docker stop
// leaves between SIGTERM and SIGKILL.
const StoppedDrain = 5 * time.Second

// Run runs the load and writes the report; the error is about the run
// itself (the target unreachable, the output not writable), not about
// what it found: that is in the summary.
func Run(ctx context.Context, cfg Config) (*report.Run, error) {
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(cfg.Out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = 2000
	}
	if cfg.Workers == 0 {
		cfg.Workers = min(64, cfg.MaxWorkers)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 2 * time.Minute
	}
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Out, format+"\n", args...) }

	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: int(cfg.MaxWorkers),
		IdleConnTimeout:     90 * time.Second,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: cfg.Timeout, Transport: scenario.EchoTransport{Base: stoppableTransport{ctx: ctx, base: withToken(transport, cfg.LoadTestToken)}}}

	catCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	hotels, err := scenario.LoadCatalogue(catCtx, &http.Client{Timeout: 10 * time.Second,
		Transport: scenario.UntracedTransport{Base: withToken(nil, cfg.LoadTestToken)}}, cfg.Target)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("read the catalogue (is the web tier running at %s?): %w", cfg.Target, err)
	}
	gen, err := scenario.New(scenario.Config{
		Target: cfg.Target, Scenario: cfg.Scenario, BookShare: cfg.BookShare, RepeatShare: cfg.RepeatShare, TraceShare: cfg.TraceShare,
		Seed: cfg.Seed, RunID: time.Now().UTC().Format("20060102t150405") + fmt.Sprintf("%04d", time.Now().Nanosecond()%10000),
	}, hotels)
	if err != nil {
		return nil, err
	}

	storedBefore := -1
	if cfg.BookingDatabaseURL != "" {
		if n, err := localstack.CountBookings(ctx, cfg.BookingDatabaseURL); err == nil {
			storedBefore = n
		} else {
			cfg.Logger.WarnContext(ctx, "bookings not counted", "err", err)
		}
	}

	services := map[string]string{"web": cfg.Target}
	for name, u := range map[string]string{"booking": cfg.BookingURL, "voucher": cfg.VoucherURL, "email": cfg.EmailURL, "notification": cfg.NotificationURL} {
		if u != "" {
			services[name] = u
		}
	}
	say("load: %s, scenario %s, %s (%d requests planned), client timeout %s", cfg.Target, cfg.Scenario, cfg.Profile, cfg.Profile.Total(), cfg.Timeout)
	cpuBefore, cpuErr := cpucost.Read(ProcRoot)
	var cpu map[string]cpucost.Usage // read when the drain ends (settle's Drained)
	start := time.Now()
	sampler := sample.Start(ctx, sample.Config{
		AMQPURL: cfg.AMQPURL, Services: services, Prometheus: sample.Prometheus{URL: cfg.PrometheusURL}, BookingDatabaseURL: cfg.BookingDatabaseURL, Logger: cfg.Logger,
	}, start)
	rec := record.New(start)
	attacker := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(cfg.Workers), vegeta.MaxWorkers(cfg.MaxWorkers), vegeta.MaxBody(64<<10))
	results := attacker.Attack(countSent(gen.Targeter(), rec), cfg.Profile, cfg.Profile.Duration, cfg.Label)

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-ctx.Done():
				attacker.Stop()
				return
			case now := <-t.C:
				depth, ok := sampler.Latest().Queues[messaging.BookRoomQueue]
				say("%s", report.ProgressLine(rec.Progress(now), depth, ok))
			}
		}
	}()
	for res := range results {
		rec.Add(res)
	}
	load := time.Since(start)
	close(stopProgress)
	<-progressDone
	p := rec.Progress(time.Now())
	say("load done: %d requests in %.1fs; draining (timeout %s)", p.Sent, load.Seconds(), cfg.DrainTimeout)

	if ctx.Err() != nil {
		// Stopped: still look at what was accepted, briefly.
		cfg.DrainTimeout = min(cfg.DrainTimeout, StoppedDrain)
		say("stopped: draining for at most %s", cfg.DrainTimeout)
	}
	// The drain and the checks outlive a stop by StoppedDrain at most, so
	// that a run stopped while it drains still reports what it saw, soon.
	drainCtx, stopDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDrain()
	stopLater := context.AfterFunc(ctx, func() {
		say("stopped: finishing the drain and the checks within %s", StoppedDrain)
		time.AfterFunc(StoppedDrain, stopDrain)
	})
	defer stopLater()
	var queueDepth func() (int, bool)
	if sampler.WatchesQueues() {
		queueDepth = func() (int, bool) { return sampler.QueueDepth(messaging.BookRoomQueue) }
	}
	st := settle.Run(drainCtx, settle.Config{
		Target: cfg.Target, BookingURL: cfg.BookingURL, VoucherURL: cfg.VoucherURL, EmailURL: cfg.EmailURL,
		NotificationURL: cfg.NotificationURL, MailpitURL: cfg.MailpitURL, Emails: cfg.Emails, Notifications: cfg.Notifications,
		QueueDepth: queueDepth, Timeout: cfg.DrainTimeout, RunStart: start, Say: say, Logger: cfg.Logger,
		Transport: withToken(nil, cfg.LoadTestToken),
		// The CPU a booking costs is counted from the load's start to the
		// drain's end: the checks after it are the load test's own reads.
		Drained: func() {
			if cpuErr == nil {
				var after cpucost.Snapshot
				if after, cpuErr = cpucost.Read(ProcRoot); cpuErr == nil {
					cpu = cpucost.Attribute(cpuBefore, after, os.Getpid())
				}
			}
		},
	}, rec.Accepted())
	sampler.Stop()
	if cpuErr != nil {
		cfg.Notes = append(cfg.Notes, "CPU per booking not measured: "+cpuErr.Error())
	}
	interrupted := ctx.Err() != nil
	if interrupted {
		cfg.Notes = append(cfg.Notes, fmt.Sprintf("the run was stopped (SIGINT or SIGTERM) %.1fs after the load began: the load ended early, "+
			"the drain and the checks were cut to %s, and what was still in progress then is counted late", time.Since(start).Seconds(), StoppedDrain))
	}

	storedAfter := -1
	if storedBefore >= 0 {
		if n, err := localstack.CountBookings(context.WithoutCancel(ctx), cfg.BookingDatabaseURL); err == nil {
			storedAfter = n
		}
	}
	sum, tl := report.Summarize(report.Input{
		Label: cfg.Label, Target: cfg.Target, Scenario: cfg.Scenario, Profile: cfg.Profile, Start: start, Load: load,
		Recorder: rec, Samples: sampler.Samples(), Settle: st, StoredBefore: storedBefore, StoredAfter: storedAfter,
		JaegerURL: cfg.JaegerURL, Notes: cfg.Notes, Interrupted: interrupted, CPU: cpu,
	})
	r := &report.Run{Summary: sum, Timeline: tl}
	if cfg.OutDir != "" {
		if err := report.WriteRun(cfg.OutDir, *r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// countSent tells rec of every request as vegeta takes it to send (a
// worker asks the targeter right before it sends).
func countSent(next vegeta.Targeter, rec *record.Recorder) vegeta.Targeter {
	return func(t *vegeta.Target) error {
		if err := next(t); err != nil {
			return err
		}
		rec.Sending(time.Now())
		return nil
	}
}
