// Package postgres opens a service's PostgreSQL pool (creating the database
// if it is missing, retrying while the server starts), applies the service's
// embedded goose migrations, and checks readiness.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// Config configures Open.
type Config struct {
	URL string
	// MaxConns bounds the pool: the database's connection budget for this replica.
	MaxConns int32
	// Migrations holds goose SQL files at its root; nil skips migrating.
	Migrations fs.FS
	// CreateDatabase creates the database named in URL when it does not exist.
	CreateDatabase bool
	// ConnectTimeout bounds the retries at start-up.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Tracer, if set, traces every query. Without one, a span per SQL
	// statement (otelpgx) only when TRACE_SQL_STATEMENTS is true (see
	// StatementSpans).
	Tracer pgx.QueryTracer
}

// StatementSpans reports whether TRACE_SQL_STATEMENTS asks for a span per
// SQL statement (false when unset). They are off by default: a traced
// statement costs the service about 20 to 45 µs of CPU more than an untraced one
// (BenchmarkStatementTracing, docs/benchmarks.md), and a booking runs
// dozens of statements; the consumer and HTTP spans still show where a
// booking's time goes. Turn them on to see each query in Jaeger.
func StatementSpans() (bool, error) {
	v := strings.TrimSpace(os.Getenv("TRACE_SQL_STATEMENTS"))
	if v == "" {
		return false, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("TRACE_SQL_STATEMENTS: %q is not true or false", v)
	}
	return on, nil
}

// Open connects, creating the database and migrating as configured.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	if cfg.Tracer == nil {
		on, err := StatementSpans()
		if err != nil {
			return nil, err
		}
		if on {
			// No span per pool acquire: they were 12 of a booking's 85
			// spans, and the pool's waits show in the query spans' start
			// times anyway.
			cfg.Tracer = otelpgx.NewTracer(otelpgx.WithDisableAcquireTracer())
		}
	}
	if cfg.Tracer != nil {
		pcfg.ConnConfig.Tracer = cfg.Tracer
	}

	b := backoff.NewExponentialBackOff()
	b.MaxInterval = 3 * time.Second
	attempt := 0
	pool, err := backoff.Retry(ctx, func() (*pgxpool.Pool, error) {
		attempt++
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err == nil {
			return pool, nil
		}
		if pool != nil {
			pool.Close()
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" && cfg.CreateDatabase { // invalid_catalog_name
			if cerr := createDatabase(ctx, cfg.URL); cerr != nil {
				return nil, backoff.Permanent(cerr)
			}
			cfg.Logger.InfoContext(ctx, "created database", "database", pcfg.ConnConfig.Database)
			return nil, err
		}
		cfg.Logger.WarnContext(ctx, "postgresql not reachable yet, retrying", "attempt", attempt, "err", err)
		return nil, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		return nil, fmt.Errorf("connect to postgresql: %w", err)
	}
	if cfg.Migrations != nil {
		if err := Migrate(ctx, pool, cfg.Migrations); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return pool, nil
}

func createDatabase(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: another replica won
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Migrate applies the goose migrations in fsys. goose takes a session-level
// advisory lock, so replicas starting together migrate once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(mustLocker()))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Check reports whether the database answers (for /readyz).
func Check(pool *pgxpool.Pool) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		return nil
	}
}

// IsTransient reports whether err is worth retrying: a lost connection,
// a serialization failure or a deadlock, the server shutting down.
func IsTransient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "40001", pgErr.Code == "40P01": // serialization_failure, deadlock_detected
			return true
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"): // connection, operator intervention
			return true
		}
		return false
	}
	return !errors.Is(err, sql.ErrNoRows)
}
