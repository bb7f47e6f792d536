// Package compare runs the same load against Staybook in queue mode and in
// direct mode (BOOKING_TRANSPORT=direct: web -> booking -> voucher, email,
// notification, all over HTTP in the request), one after the other, each
// on a stack of its own (localstack), and reports them side by side; and
// runs the demos built on it.
package compare

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/staybook/staybook/loadtest/internal/localstack"
	"github.com/staybook/staybook/loadtest/internal/pace"
	"github.com/staybook/staybook/loadtest/internal/report"
	"github.com/staybook/staybook/loadtest/internal/run"
)

// Modes of the web tier.
const (
	Queue  = "queue"
	Direct = "direct"
)

// Config is a comparison.
type Config struct {
	// Modes to run, in order (default queue, then direct).
	Modes    []string
	Scenario string
	Profile  pace.Profile
	// Timeout is the customer's patience (the client's timeout).
	Timeout      time.Duration
	MaxWorkers   uint64
	DrainTimeout time.Duration
	Seed         uint64
	// RepeatShareNone sends no booking twice (every request a new booking).
	RepeatShareNone bool
	// Env is every service's extra environment (BOOKING_TX_DELAY ...);
	// ServiceEnv per service. BOOKING_TRANSPORT is set per mode.
	Env        map[string]string
	ServiceEnv map[string]map[string]string
	// OutDir receives one folder per mode and the side-by-side report.
	OutDir string
	// Title and Intro head the report.
	Title string
	Intro []string
	Out   io.Writer
}

// Runs builds the services, then runs each mode on a fresh stack.
func Runs(ctx context.Context, cfg Config) ([]report.Run, error) {
	if len(cfg.Modes) == 0 {
		cfg.Modes = []string{Queue, Direct}
	}
	for _, mode := range cfg.Modes {
		if mode != Queue && mode != Direct {
			return nil, fmt.Errorf("mode %q: want queue or direct", mode)
		}
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Out, format+"\n", args...) }
	root, err := localstack.Root()
	if err != nil {
		return nil, err
	}
	services := localstack.Available(root, nil)
	binDir, err := os.MkdirTemp("", "staybook-loadtest-bin")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(binDir)
	say("building %v", services)
	if err := localstack.Build(ctx, root, binDir, services); err != nil {
		return nil, err
	}
	var runs []report.Run
	for _, mode := range cfg.Modes {
		if ctx.Err() != nil {
			return runs, ctx.Err()
		}
		r, err := runMode(ctx, cfg, root, binDir, services, mode, say)
		if err != nil {
			return runs, fmt.Errorf("%s mode: %w", mode, err)
		}
		runs = append(runs, *r)
	}
	return runs, nil
}

func runMode(ctx context.Context, cfg Config, root, binDir string, services []string, mode string, say func(string, ...any)) (*report.Run, error) {
	dir := filepath.Join(cfg.OutDir, mode)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(dir, "services.log"))
	if err != nil {
		return nil, err
	}
	defer logs.Close()
	serviceEnv := map[string]map[string]string{}
	for svc, env := range cfg.ServiceEnv {
		serviceEnv[svc] = map[string]string{}
		for k, v := range env {
			serviceEnv[svc][k] = v
		}
	}
	if serviceEnv["web"] == nil {
		serviceEnv["web"] = map[string]string{}
	}
	serviceEnv["web"]["BOOKING_TRANSPORT"] = mode
	say("\n== %s mode: starting %v on a vhost and databases of its own (logs: %s)", mode, services, logs.Name())
	st, err := localstack.Start(ctx, localstack.Config{
		Root: root, BinDir: binDir, Services: services, Env: cfg.Env, ServiceEnv: serviceEnv, Logs: logs,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := st.Close(); err != nil {
			say("%s mode: stop: %v", mode, err)
		}
	}()
	repeat := 0.0
	if cfg.RepeatShareNone {
		repeat = -1
	}
	return run.Run(ctx, run.Config{
		Label: mode, Target: st.URL("web"), Scenario: cfg.Scenario, Profile: cfg.Profile, Seed: cfg.Seed, RepeatShare: repeat,
		Timeout: cfg.Timeout, MaxWorkers: cfg.MaxWorkers, DrainTimeout: cfg.DrainTimeout,
		AMQPURL: st.AMQPURL, BookingURL: st.URLOf("booking"), VoucherURL: st.URLOf("voucher"),
		EmailURL: st.URLOf("email"), NotificationURL: st.URLOf("notification"),
		BookingDatabaseURL: st.DatabaseURLs["booking"], Emails: st.SMTP, Notifications: st.Webhooks,
		OutDir: dir, Out: cfg.Out, Logger: slog.New(slog.NewTextHandler(cfg.Out, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Notes: []string{fmt.Sprintf("an isolated stack in %s mode, environment %v, web %v", mode, cfg.Env, serviceEnv["web"])},
	})
}

// Spike is the comparison of the story: the same spike against queue and
// direct mode, with the booking database as the bottleneck.
func Spike(ctx context.Context, cfg Config) ([]report.Run, error) {
	if cfg.Title == "" {
		cfg.Title = "Staybook: the same spike with and without the queue"
	}
	runs, err := Runs(ctx, cfg)
	if len(runs) > 0 {
		if werr := report.WriteCompare(cfg.OutDir, cfg.Title, cfg.Intro, runs); werr != nil && err == nil {
			err = werr
		}
	}
	return runs, err
}
