package outbox_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

// vacuums is how many times the outbox table was vacuumed by hand (VACUUM,
// not autovacuum), from PostgreSQL's statistics.
func vacuums(t testing.TB, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	testkit.Must(t, pool.QueryRow(context.Background(),
		`SELECT coalesce((SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = to_regclass($1)), 0)`, outbox.Table).Scan(&n))
	return n
}

// Where autovacuum is off for the outbox table (here by the table's own
// setting, which turns it off whatever the server's is), the forwarder
// vacuums the table itself once it has deleted rows.
func TestForwarder_VacuumsTheOutboxItselfWhereAutovacuumIsOff(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	_, err := pool.Exec(context.Background(), `ALTER TABLE `+outbox.Table+` SET (autovacuum_enabled = false)`)
	testkit.Must(t, err)
	broker := &brokerStub{}
	fwd, err := outbox.NewForwarder(testkit.Context(t), outbox.Config{
		Pool: pool, Out: broker, PollInterval: 20 * time.Millisecond,
		VacuumInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	testkit.Must(t, err)
	if !fwd.VacuumsItself() {
		t.Fatal("VacuumsItself() = false with autovacuum_enabled = false on the outbox table")
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fwd.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		testkit.Must(t, <-done)
	})
	<-fwd.Running()

	before := vacuums(t, pool)
	writeEvents(t, pool, "events.BookingConfirmed", 300)
	testkit.Eventually(t, 30*time.Second, "outbox forwarded", func() bool { return rowsLeft(t, pool) == 0 })
	testkit.Eventually(t, 30*time.Second, "outbox vacuumed after its rows were deleted", func() bool {
		return vacuums(t, pool) > before
	})
}

// With the table's default, the forwarder follows the server: it vacuums
// the table itself only where the server's autovacuum is off (as on the
// machine the project's tests and load runs use).
func TestForwarder_VacuumsItselfOnlyWhereTheServersAutovacuumIsOff(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	var serverOn bool
	testkit.Must(t, pool.QueryRow(context.Background(), `SELECT current_setting('autovacuum')::bool`).Scan(&serverOn))
	fwd, err := outbox.NewForwarder(testkit.Context(t), outbox.Config{Pool: pool, Out: &brokerStub{}, Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	if fwd.VacuumsItself() == serverOn {
		t.Fatalf("VacuumsItself() = %v where the server's autovacuum is %v", fwd.VacuumsItself(), serverOn)
	}
}
