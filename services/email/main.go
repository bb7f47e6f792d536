// Command email is Staybook's email service: it sends each confirmed
// booking's confirmation email, with the voucher PDF attached, once, and
// publishes ConfirmationEmailSent.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/lifecycle"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/email/internal/service"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" { // the container's health check
		os.Exit(httpx.Healthcheck(os.Getenv("HTTP_ADDR"), ":8083"))
	}
	if err := run(); err != nil {
		slog.Error("email stopped", "err", err)
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
	defer func() {
		// Last: the spans of the final messages are flushed.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdownTracing(ctx)
	}()
	svc, err := service.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	return svc.Run(ctx)
}
