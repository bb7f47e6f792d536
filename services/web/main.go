// Command web is Staybook's web tier: the site (hotel offers, booking form,
// live booking page, admin console), the public JSON API and the admin API.
// It validates bookings and queues them for the booking service, serves
// their status and a live stream of it, and the hotel catalogue.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/service"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" { // the container's health check
		os.Exit(httpx.Healthcheck(os.Getenv("HTTP_ADDR"), ":8080"))
	}
	if err := run(); err != nil {
		slog.Error("web stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := service.DefaultConfig()
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log := logging.New("web", cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)
	ctx, stop := lifecycle.SignalContext()
	defer stop()
	shutdownTracing, err := telemetry.Setup(ctx, "web")
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
