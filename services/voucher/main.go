// Command voucher is Staybook's voucher service: it turns every confirmed
// booking into a one-page PDF voucher, stores it in its own database,
// announces it with VoucherCreated, and serves it over HTTP.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/staybook/staybook/shared/faults"
	"github.com/staybook/staybook/shared/servicekit"

	"github.com/staybook/staybook/services/voucher/internal/adapters"
	"github.com/staybook/staybook/services/voucher/internal/adapters/pdf"
	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/services/voucher/internal/ports"
)

var program = servicekit.Program[Config]{Name: Name, Load: LoadConfig, Build: build}

func main() { program.Main() }

// build opens the voucher database and registers the BookingConfirmed
// handler and the HTTP API.
func build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
	db, err := svc.OpenDatabase(ctx, servicekit.Database{
		Migrations: adapters.Migrations(),
		MaxConns:   int32(cfg.Workers + 4), // the handlers, and the HTTP API beside them
	})
	if err != nil {
		return err
	}
	metrics := adapters.NewMetrics(svc.Metrics)
	renderer, err := newRenderer(cfg, svc.Log, metrics)
	if err != nil {
		return err
	}
	store := adapters.NewPostgresStore(db)
	create := app.NewCreateVoucher(app.Config{
		Store: store, Renderer: renderer, Events: svc.Events, Logger: svc.Log, OnOutcome: metrics.OnOutcome,
	})
	how := servicekit.Handling{Policy: cfg.Policy, Instances: cfg.Workers}
	if err := svc.HandleEvent(ports.NewBookingConfirmedHandler(create), how); err != nil {
		return err
	}
	ports.RegisterHTTP(svc.Mux(), ports.HTTPConfig{Vouchers: app.NewVouchers(store), Creator: create, Logger: svc.Log})
	svc.Log.InfoContext(ctx, "voucher service built", "workers", cfg.Workers, "extra_latency", cfg.ExtraLatency.String())
	return nil
}

// newRenderer is the PDF renderer, slowed down by VOUCHER_EXTRA_LATENCY if
// set, then measured: the render duration includes the extra latency.
func newRenderer(cfg Config, log *slog.Logger, metrics *adapters.Metrics) (app.Renderer, error) {
	r, err := pdf.NewRenderer(pdf.Config{
		MaxConcurrent: cfg.MaxConcurrentRenders, Logger: log, OnSubstitution: metrics.OnSubstitution,
	})
	if err != nil {
		return nil, err
	}
	var renderer app.Renderer = r
	if cfg.ExtraLatency > 0 { // the story's "rendering takes about 1 s"
		renderer = slowRenderer{Renderer: r, delay: cfg.ExtraLatency}
	}
	return metrics.MeasuredRenderer(renderer), nil
}

// slowRenderer is the demo's slow renderer (VOUCHER_EXTRA_LATENCY): every
// render waits first, outside the bound on concurrent renders (waiting is
// not work), and gives up when its context ends.
type slowRenderer struct {
	app.Renderer
	delay time.Duration
}

func (s slowRenderer) Render(ctx context.Context, v domain.Voucher) ([]byte, error) {
	if err := faults.Delay(ctx, s.delay); err != nil {
		return nil, fmt.Errorf("render voucher %s: %w", v.BookingID, err)
	}
	return s.Renderer.Render(ctx, v)
}
