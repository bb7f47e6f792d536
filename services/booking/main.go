// Command booking is Staybook's booking service: it drains the BookRoom
// command queue at the rate its database can take, records the progress of
// each booking's background tasks, and publishes its events through an outbox.
//
// Usage: booking (serve) | booking reset (restore the seed inventory).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/staybook/staybook/services/booking/internal/service"
	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" { // the container's health check
		os.Exit(httpx.Healthcheck(os.Getenv("HTTP_ADDR"), ":8081"))
	}
	if err := run(); err != nil {
		slog.Error("booking stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := service.DefaultConfig()
	if err := config.Load(&cfg); err != nil {
		return err
	}
	log := logging.New("booking", cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)
	if len(os.Args) > 1 && os.Args[1] == "reset" {
		if err := service.Reset(context.Background(), cfg, log); err != nil {
			return err
		}
		log.Info("inventory reset: no bookings, every room free")
		return nil
	}
	ctx, stop := lifecycle.SignalContext()
	defer stop()
	shutdownTracing, err := telemetry.Setup(ctx, "booking")
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
