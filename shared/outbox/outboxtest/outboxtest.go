// Package outboxtest holds test helpers for services that own an outbox:
// the check that their migrations give it a 64-bit offset.
package outboxtest

import (
	"context"
	"io/fs"
	"log/slog"
	"testing"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"
)

// Migrations checks a service's migrations, each case on a database of its
// own: they widen the outbox an earlier version made to 64-bit offsets
// without losing the events waiting in it, and a fresh database gets the
// outbox with 64-bit offsets.
func Migrations(t *testing.T, migrations fs.FS) {
	open := func(t *testing.T, cfg postgres.Config) *pgxpool.Pool {
		cfg.URL, cfg.Logger = testkit.Database(t), slog.New(slog.DiscardHandler)
		pool, err := postgres.Open(testkit.Context(t), cfg)
		testkit.Must(t, err)
		t.Cleanup(pool.Close)
		return pool
	}
	t.Run("WidenAnExistingOutboxTo64BitOffsets", func(t *testing.T) {
		t.Parallel()
		pool := open(t, postgres.Config{})
		MigrationWidensAnExistingOutbox(t, pool, func(ctx context.Context) error {
			return postgres.Migrate(ctx, pool, migrations)
		})
	})
	t.Run("CreateTheOutboxWith64BitOffsets", func(t *testing.T) {
		t.Parallel()
		OffsetIsBigint(t, open(t, postgres.Config{Migrations: migrations}))
	})
}

// MigrationWidensAnExistingOutbox creates the outbox as earlier versions did
// (watermill-sql's schema, a 32-bit SERIAL offset) with its sequence at the
// last 32-bit value and one event waiting, runs migrate, and checks that the
// event is still there and that events past 2^31 can be written.
func MigrationWidensAnExistingOutbox(t *testing.T, pool *pgxpool.Pool, migrate func(context.Context) error) {
	t.Helper()
	ctx := context.Background()
	queries, err := wsql.PostgreSQLQueueSchema{}.SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams{Topic: outbox.Topic})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		if _, err := pool.Exec(ctx, q.Query, q.Args...); err != nil {
			t.Fatalf("create the legacy outbox: %v", err)
		}
	}
	if _, err := pool.Exec(ctx, `SELECT setval('watermill_outbox_offset_seq', 2147483646)`); err != nil {
		t.Fatal(err)
	}
	insert := func() error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return outbox.Publisher(tx).Publish("events.Test", message("e"))
		})
	}
	if err := insert(); err != nil { // offset 2^31 - 1, the last one
		t.Fatalf("event at the last 32-bit offset: %v", err)
	}
	if err := insert(); err == nil {
		t.Fatal("the legacy outbox took an offset past 2^31: the test does not set it up as it was")
	}

	if err := migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for range 2 {
		if err := insert(); err != nil {
			t.Fatalf("event past 2^31 after the migration: %v", err)
		}
	}
	var n int
	var maxOffset int64
	var typ string
	if err := pool.QueryRow(ctx, `SELECT count(*), max("offset"), pg_typeof(max("offset"))::text FROM `+outbox.Table).Scan(&n, &maxOffset, &typ); err != nil {
		t.Fatal(err)
	}
	if n != 3 || maxOffset <= 1<<31 || typ != "bigint" {
		t.Fatalf("after the migration: %d rows, max offset %d (%s); want 3 rows past 2^31, bigint", n, maxOffset, typ)
	}
}

func message(id string) *wmessage.Message { return wmessage.NewMessage(id, []byte(`{}`)) }

// Schema is the outbox table as the services' migrations create it
// (booking 00003, deadletters 00002), for tests of shared/outbox itself.
const Schema = `
CREATE TABLE IF NOT EXISTS "watermill_outbox" (
    "offset"     BIGSERIAL   PRIMARY KEY,
    "uuid"       VARCHAR(36) NOT NULL,
    "payload"    JSON        DEFAULT NULL,
    "metadata"   JSON        DEFAULT NULL,
    "acked"      BOOLEAN     NOT NULL DEFAULT FALSE,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)`

// CreateTable creates the outbox table in pool's database.
func CreateTable(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), Schema); err != nil {
		t.Fatalf("create outbox table: %v", err)
	}
}

// OffsetIsBigint fails t unless the outbox's offset column and its sequence
// are 64-bit in pool's database.
func OffsetIsBigint(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	var column, sequence string
	err := pool.QueryRow(context.Background(), `
		SELECT (SELECT data_type FROM information_schema.columns WHERE table_name = 'watermill_outbox' AND column_name = 'offset'),
		       (SELECT data_type FROM information_schema.sequences WHERE sequence_name = 'watermill_outbox_offset_seq')`).Scan(&column, &sequence)
	if err != nil {
		t.Fatalf("outbox offset type: %v", err)
	}
	if column != "bigint" || sequence != "bigint" {
		t.Fatalf("outbox offset %s, sequence %s; want bigint", column, sequence)
	}
}
