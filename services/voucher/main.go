// Command voucher is Staybook's voucher service: it turns every confirmed
// booking into a one-page PDF voucher, stores it in its own database,
// announces it with VoucherCreated, and serves it over HTTP.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/staybook/staybook/services/voucher/internal/service"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" { // the container's health check
		os.Exit(httpx.Healthcheck(os.Getenv("HTTP_ADDR"), ":8082"))
	}
	if err := run(); err != nil {
		slog.Error("voucher stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := service.LoadConfig()
	if err != nil {
		return err
	}
	log := logging.New(service.Name, cfg.LogLevel, cfg.LogFormat)
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
