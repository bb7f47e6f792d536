package postgres_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/staybook/staybook/shared/outbox/outboxtest"
	sharedpg "github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/deadletters/internal/adapters/postgres"
)

// A database made by an earlier version has an outbox with a 32-bit offset;
// the migrations widen it without losing the events waiting in it.
func TestMigrations_WidenAnExistingOutboxTo64BitOffsets(t *testing.T) {
	t.Parallel()
	pool, err := sharedpg.Open(testkit.Context(t), sharedpg.Config{URL: testkit.Database(t), Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	outboxtest.MigrationWidensAnExistingOutbox(t, pool, func(ctx context.Context) error {
		return sharedpg.Migrate(ctx, pool, postgres.Migrations())
	})
}

func TestMigrations_CreateTheOutboxWith64BitOffsets(t *testing.T) {
	t.Parallel()
	pool, err := sharedpg.Open(testkit.Context(t), sharedpg.Config{URL: testkit.Database(t), Migrations: postgres.Migrations(), Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	outboxtest.OffsetIsBigint(t, pool)
}
