package servicekit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"
)

// Configuration is a service's configuration: a struct embedding config.Common.
type Configuration interface {
	CommonConfig() config.Common
}

// Program is a service binary: its configuration, what it builds on the
// kit, and its subcommands.
type Program[C Configuration] struct {
	Name string
	// Load reads the configuration from the environment (defaults first),
	// naming every bad variable.
	Load func() (C, error)
	// Build registers the service's handlers, routes and parts on svc.
	Build func(ctx context.Context, svc *Service, cfg C) error
	// Options adjusts the kit's options for cfg (optional).
	Options func(cfg C, opts *Options)
	// Commands are subcommands run instead of the service (`booking reset`).
	Commands map[string]func(ctx context.Context, cfg C, log *slog.Logger) error
}

// Main is the binary's main: `<binary> healthcheck` asks the running
// service's /readyz (for container images without curl); `<binary> <command>`
// runs a subcommand; with no argument it runs the service until SIGINT or
// SIGTERM, then drains and exits. Any error exits with status 1.
func (p Program[C]) Main() {
	cfg, err := p.Load()
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(httpx.Healthcheck(os.Getenv("HTTP_ADDR"), cfg.CommonConfig().HTTPAddr))
	}
	if err == nil {
		err = p.run(cfg)
	}
	if err != nil {
		slog.Error(p.Name+" stopped", "err", err)
		os.Exit(1)
	}
}

func (p Program[C]) run(cfg C) error {
	common := cfg.CommonConfig()
	log := logging.New(p.Name, common.LogLevel, common.LogFormat)
	slog.SetDefault(log)
	ctx, stop := lifecycle.SignalContext()
	defer stop()
	if len(os.Args) > 1 {
		command, ok := p.Commands[os.Args[1]]
		if !ok {
			return fmt.Errorf("unknown command %q", os.Args[1])
		}
		return command(ctx, cfg, log)
	}
	shutdownTracing, err := telemetry.Setup(ctx, p.Name)
	if err != nil {
		return err
	}
	defer func() {
		// Last: the spans of the final messages are flushed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdownTracing(ctx)
	}()
	svc, err := p.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Run(ctx)
}

// New builds the service as Main does, without running it (tests run it).
func (p Program[C]) New(ctx context.Context, cfg C, log *slog.Logger) (_ *Service, err error) {
	if v, ok := any(cfg).(config.Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("configuration: %w", err)
		}
	}
	opts := Options{Name: p.Name, Config: cfg.CommonConfig(), Logger: log}
	if p.Options != nil {
		p.Options(cfg, &opts)
	}
	svc, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := p.Build(ctx, svc, cfg); err != nil {
		svc.Close()
		return nil, err
	}
	return svc, nil
}
