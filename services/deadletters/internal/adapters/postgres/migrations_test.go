package postgres_test

import (
	"testing"

	"github.com/staybook/staybook/shared/outbox/outboxtest"

	"github.com/staybook/staybook/services/deadletters/internal/adapters/postgres"
)

// A database made by an earlier version has an outbox with a 32-bit offset;
// the migrations widen it without losing the events waiting in it, and a
// fresh database gets 64-bit offsets from the start.
func TestMigrations_GiveTheOutbox64BitOffsets(t *testing.T) {
	t.Parallel()
	outboxtest.Migrations(t, postgres.Migrations())
}
