package servicekit

import (
	"context"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/postgres"
)

// Database says how to open the service's PostgreSQL database (DATABASE_URL).
type Database struct {
	// Migrations are the service's goose migrations, applied at start.
	Migrations fs.FS
	// MaxConns bounds the pool: the database's connection budget for this replica.
	MaxConns int32
	// Tracer, if set, sees every query (a demo's slow transactions).
	Tracer pgx.QueryTracer
}

// OpenDatabase opens the service's database, creating and migrating it,
// retrying while the server starts (up to AMQP_CONNECT_TIMEOUT, the
// start-up budget); readiness then depends on it, and Close closes it.
func (s *Service) OpenDatabase(ctx context.Context, db Database) (*pgxpool.Pool, error) {
	pool, err := postgres.Open(ctx, postgres.Config{
		URL: s.Config.DatabaseURL, MaxConns: db.MaxConns, Migrations: db.Migrations, CreateDatabase: true,
		ConnectTimeout: s.Config.AMQPConnectTimeout, Logger: s.Log, Tracer: db.Tracer,
	})
	if err != nil {
		return nil, err
	}
	s.db = pool
	s.AddCheck("database", postgres.Check(pool))
	return pool, nil
}

// OutboxCommits is how the service's storage wakes its outbox forwarder:
// it calls Committed after each commit that wrote events (see
// outbox.Commits). Call it while building the service; every call returns
// the same one.
func (s *Service) OutboxCommits() *outbox.Commits {
	if s.commits == nil {
		s.commits = outbox.NewCommits()
	}
	return s.commits
}

// ForwardOutbox runs the outbox forwarder of the service's database (see
// shared/outbox): events written in the service's transactions are
// published through Publisher and deleted once confirmed. OutboxCommits
// wakes it; poll is the fallback poll, for the events of other replicas
// and of writers that crashed after their commit. The age of the oldest
// waiting event is exported as staybook_outbox_lag_seconds.
func (s *Service) ForwardOutbox(ctx context.Context, poll time.Duration) error {
	forwarder, err := outbox.NewForwarder(ctx, outbox.Config{
		Pool: s.db, Out: s.Publisher, Commits: s.OutboxCommits(), PollInterval: poll, Logger: s.Log,
	})
	if err != nil {
		return err
	}
	pool := s.db
	s.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "staybook_outbox_lag_seconds", Help: "Age of the oldest event waiting in the outbox.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d, _, err := outbox.Lag(ctx, pool)
		if err != nil {
			return -1
		}
		return d.Seconds()
	}))
	s.Go("outbox", forwarder.Run)
	return nil
}
