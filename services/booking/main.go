// Command booking is Staybook's booking service: it drains the BookRoom
// command queue at the rate its database can take, records the progress of
// each booking's background tasks, and publishes its events through an outbox.
//
// Usage: booking (serve) | booking reset (restore the seed inventory).
package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/booking/internal/adapters/downstreamclient"
	bookingpg "github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/ports"
)

var program = servicekit.Program[Config]{
	Name: Name, Load: LoadConfig, Build: wiring{}.build,
	Commands: map[string]func(context.Context, Config, *slog.Logger) error{"reset": reset},
}

func main() { program.Main() }

// wiring builds the service; its fields are hooks for tests.
type wiring struct {
	// onSettled, if set, is told of every BookRoom command handled, once its
	// transaction committed (created false for a duplicate). Benchmarks
	// wait on it instead of polling the database.
	onSettled func(created bool)
}

// build opens the database, registers the BookRoom and task event handlers,
// forwards the outbox and serves the internal HTTP API.
func (w wiring) build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
	pool, err := svc.OpenDatabase(ctx, servicekit.Database{Migrations: bookingpg.Migrations(), MaxConns: cfg.DBMaxConns})
	if err != nil {
		return err
	}
	bookings := app.New(repository(pool, cfg, svc), app.Config{CommandTTL: cfg.CommandTTL})
	counted := countBookings(svc.Metrics)
	messages := &ports.Messages{App: bookings, Log: svc.Log, Settled: func(status, reason string, created bool) {
		counted(status, reason, created)
		if w.onSettled != nil {
			w.onSettled(created)
		}
	}}
	if err := svc.HandleCommand(messages.BookRoomHandler(), servicekit.Handling{Policy: DefaultPolicy(), Instances: cfg.Workers}); err != nil {
		return err
	}
	for _, h := range messages.TaskHandlers() {
		if err := svc.HandleEvent(h, servicekit.Handling{Policy: DefaultPolicy(), Instances: cfg.TaskWorkers}); err != nil {
			return err
		}
	}
	if err := svc.ForwardOutbox(ctx, cfg.OutboxPoll); err != nil {
		return err
	}
	(&ports.HTTP{
		App: bookings, Log: svc.Log, DirectTimeout: cfg.DirectTimeout,
		Downstream: downstreamclient.New(downstreamclient.Config{
			VoucherURL: cfg.VoucherURL, EmailURL: cfg.EmailURL, NotificationURL: cfg.NotificationURL,
			Client: telemetry.HTTPClient(cfg.DirectTimeout),
		}),
	}).Register(svc.Mux())
	return nil
}

// repository is the booking storage, which wakes the service's outbox
// forwarder after its commits, with the demo's slow transactions
// (BOOKING_TX_DELAY) and the chaos suite's failpoint (STAYBOOK_FAILPOINT)
// around it when they are set.
func repository(pool *pgxpool.Pool, cfg Config, svc *servicekit.Service) app.Repository {
	opts := []bookingpg.Option{bookingpg.OnCommit(svc.OutboxCommits().Committed)}
	if cfg.TransactionDelay > 0 {
		opts = append(opts, bookingpg.BookingTransactionsFrom(slowBookingTransactions{pool: pool, delay: cfg.TransactionDelay}))
	}
	return withFailpoint(bookingpg.NewRepository(pool, opts...), cfg.Failpoint, svc.Log)
}

// countBookings registers staybook_bookings_total and returns what counts a
// settled BookRoom (a duplicate is not counted).
func countBookings(reg prometheus.Registerer) func(status, reason string, created bool) {
	bookings := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staybook_bookings_total", Help: "BookRoom commands settled, by outcome (duplicates not counted).",
	}, []string{"status", "reason"})
	reg.MustRegister(bookings)
	return func(status, reason string, created bool) {
		if created {
			bookings.WithLabelValues(status, reason).Inc()
		}
	}
}

// reset is `booking reset` (make reset): it restores the seed inventory, no
// bookings and every room free, and empties the outbox.
func reset(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Migrations: bookingpg.Migrations(), CreateDatabase: true, Logger: log})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := bookingpg.NewRepository(pool).Reset(ctx); err != nil {
		return err
	}
	log.InfoContext(ctx, "inventory reset: no bookings, every room free")
	return nil
}
