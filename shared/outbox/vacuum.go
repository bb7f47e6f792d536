package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The outbox is a queue in a table: every row is deleted moments after its
// insert, so the table is all dead rows until a VACUUM makes their space
// reusable. PostgreSQL's autovacuum does that on its own (with the default
// settings, once a minute for a table this small), but a server can have it
// off: the machine Staybook's tests and load runs use does. There the table
// only grew: 243 MB after a day of load runs, for no live row, and every
// read that scans it (Lag, which /metrics calls on every scrape) grew with
// it: PostgreSQL used 4.8-5.3 ms of CPU per booking at 100/s, against
// 3.2-3.4 with the table vacuumed every minute (docs/results/benchmarks.md,
// "Fourth round").
//
// So the forwarder asks at its start whether autovacuum will vacuum the
// table (the server's autovacuum setting, and the table's own
// autovacuum_enabled), and if not, vacuums it itself every
// Config.VacuumInterval in which it deleted rows, and says so in its log.

// autovacuumOn reports whether PostgreSQL's autovacuum vacuums the outbox
// table: on for the server and not turned off for the table.
func autovacuumOn(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var on bool
	err := pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool
		AND coalesce((SELECT option_value::bool FROM pg_class c, pg_options_to_table(c.reloptions)
			WHERE c.oid = to_regclass($1) AND option_name = 'autovacuum_enabled'), true)`, Table).Scan(&on)
	if err != nil {
		return false, fmt.Errorf("outbox: ask whether autovacuum is on: %w", err)
	}
	return on, nil
}

// vacuumEvery vacuums the table every interval in which the forwarder
// deleted rows, until ctx ends. A VACUUM that fails is logged and tried at
// the next interval: the table grows meanwhile, nothing is lost.
func (f *Forwarder) vacuumEvery(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() {
		deleted := f.deleted.Swap(0)
		if deleted == 0 {
			return
		}
		if _, err := f.cfg.Pool.Exec(ctx, `VACUUM `+Table); err != nil {
			if ctx.Err() == nil {
				f.cfg.Logger.WarnContext(ctx, "outbox vacuum failed; trying again in the next interval", "table", Table, "err", err)
			}
			f.deleted.Add(deleted)
			return
		}
		f.cfg.Logger.DebugContext(ctx, "outbox vacuumed", "rows_deleted_since_last", deleted)
	})
}

// VacuumsItself reports whether the forwarder vacuums its table itself,
// because PostgreSQL's autovacuum would not (decided in NewForwarder).
func (f *Forwarder) VacuumsItself() bool { return f.vacuumItself }
