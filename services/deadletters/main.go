// Command deadletters is Staybook's dead-letter service: it alone consumes
// the dead_letters queue, stores each letter once, announces a failed
// booking task (TaskFailed, through its outbox), and lets operators list,
// inspect, replay and purge letters through its admin API and the dlq CLI
// (cmd/dlq).
package main

import (
	"context"

	"github.com/staybook/staybook/shared/servicekit"

	"github.com/staybook/staybook/services/deadletters/internal/adapters/broker"
	"github.com/staybook/staybook/services/deadletters/internal/adapters/postgres"
	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/ports"
)

var program = servicekit.Program[Config]{
	Name: Name, Load: LoadConfig, Build: build,
	Options: func(_ Config, opts *servicekit.Options) {
		// A letter that cannot be stored stays on dead_letters, unaltered.
		opts.DeadLetters = ports.RefuseDeadLetters{}
	},
}

func main() { program.Main() }

// build opens the database, registers store_dead_letter on dead_letters,
// runs the outbox forwarder (TaskFailed) and adds the admin API.
func build(ctx context.Context, svc *servicekit.Service, cfg Config) error {
	pool, err := svc.OpenDatabase(ctx, servicekit.Database{Migrations: postgres.Migrations(), MaxConns: cfg.DBMaxConns})
	if err != nil {
		return err
	}
	// Save wakes the outbox forwarder when it committed TaskFailed.
	repo := postgres.NewRepository(pool, postgres.OnCommit(svc.OutboxCommits().Committed))
	// A replay goes out undecorated: it is the original message, whose
	// traceparent must stay the one it was sent with.
	republisher := broker.NewRepublisher(broker.Config{Conn: svc.PublishConnection(), Publisher: svc.AMQPPublisher()})
	letters := app.New(repo, republisher, app.Config{ReplayTimeout: cfg.ReplayTimeout})

	metrics := newMetrics(svc.Metrics, repo)
	messages := &ports.Messages{App: letters, Log: svc.Log, Stored: metrics.letterStored}
	if err := svc.HandleMessages(messages.Handler(cfg.StoreRetry, cfg.Workers)); err != nil {
		return err
	}
	// TaskFailed leaves the outbox traced, then measured (svc.Publisher).
	if err := svc.ForwardOutbox(ctx, cfg.OutboxPoll); err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		svc.Log.WarnContext(ctx, "ADMIN_TOKEN is not set: the admin API refuses every request")
	}
	(&ports.Admin{App: letters, Log: svc.Log, Token: cfg.AdminToken}).Register(svc.Mux())
	return nil
}
