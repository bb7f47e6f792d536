// Command deadletters is Staybook's dead-letter service: it alone consumes
// the dead_letters queue, stores each letter once, announces a failed
// booking task (TaskFailed, through its outbox), and lets operators list,
// inspect, replay and purge letters through its admin API and the dlq CLI.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/staybook/staybook/services/deadletters/internal/service"
	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" { // the container's health check
		os.Exit(httpx.Healthcheck(os.Getenv("HTTP_ADDR"), ":8085"))
	}
	if err := run(); err != nil {
		slog.Error("deadletters stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := service.DefaultConfig()
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log := logging.New(service.Name, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)
	ctx, stop := lifecycle.SignalContext()
	defer stop()
	shutdownTracing, err := telemetry.Setup(ctx, service.Name)
	if err != nil {
		return err
	}
	defer shutdownTracing(context.Background())
	svc, err := service.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Run(ctx)
}
