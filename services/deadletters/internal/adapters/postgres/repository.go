// Package postgres stores dead letters, their failure rounds and replays in
// the deadletters service's PostgreSQL database, and writes TaskFailed to
// the transactional outbox in the same transaction as the letter it announces.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/domain"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/telemetry"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the schema, for postgres.Open.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Repository is the deadletters service's storage.
type Repository struct {
	pool *pgxpool.Pool
	// onCommit runs after each commit of Save (see OnCommit).
	onCommit func()
}

// Option configures a Repository.
type Option func(*Repository)

// OnCommit has fn called after each commit of Save, the transaction that
// writes TaskFailed to the outbox, so that the service's outbox forwarder
// reads it at once (outbox.Commits's Committed). A duplicate delivery
// commits no event: the spurious call costs the forwarder one empty read.
func OnCommit(fn func()) Option {
	return func(r *Repository) { r.onCommit = fn }
}

// NewRepository returns a Repository on pool.
func NewRepository(pool *pgxpool.Pool, opts ...Option) *Repository {
	r := &Repository{pool: pool, onCommit: func() {}}
	for _, o := range opts {
		o(r)
	}
	return r
}

const letterColumns = `id, status, topic, queue, handler, reason, attempts, first_failed_at, last_failed_at,
	correlation_id, payload, metadata, created_at, updated_at, replayed_at, replay_count, purged_at`

func scanLetter(row pgx.Row) (domain.Letter, error) {
	var l domain.Letter
	err := row.Scan(&l.ID, &l.Status, &l.Topic, &l.Queue, &l.Handler, &l.Reason, &l.Attempts, &l.FirstFailedAt, &l.LastFailedAt,
		&l.CorrelationID, &l.Payload, &l.Metadata, &l.CreatedAt, &l.UpdatedAt, &l.ReplayedAt, &l.ReplayCount, &l.PurgedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, domain.ErrNotFound
	}
	return l, err
}

// Save stores a received letter, in one transaction: the letter (if its ID
// is new), its failure round (once: a round already stored is a duplicate
// delivery and changes nothing), the known letter's new state when a replay
// failed again, and the events announce publishes, in the outbox (app.Repository).
func (r *Repository) Save(ctx context.Context, l domain.Letter, announce app.Announce) (domain.Outcome, error) {
	var outcome domain.Outcome
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO dead_letters (id, status, topic, queue, handler, reason, attempts, first_failed_at, last_failed_at,
				correlation_id, payload, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (id) DO NOTHING`,
			l.ID, domain.StatusDead, l.Topic, l.Queue, l.Handler, l.Reason, l.Attempts, l.FirstFailedAt, l.LastFailedAt,
			l.CorrelationID, l.Payload, l.Metadata)
		if err != nil {
			return fmt.Errorf("insert letter: %w", err)
		}
		created := tag.RowsAffected() == 1
		stored := l
		if !created {
			// Lock the known letter first: a concurrent duplicate, or a
			// replay in progress, finishes before this round is judged.
			if stored, err = scanLetter(tx.QueryRow(ctx, `SELECT `+letterColumns+` FROM dead_letters WHERE id = $1 FOR UPDATE`, l.ID)); err != nil {
				return fmt.Errorf("lock letter: %w", err)
			}
		}
		round := l.Failure()
		tag, err = tx.Exec(ctx, `
			INSERT INTO dead_letter_failures (letter_id, attempts, reason, failed_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (letter_id, attempts) DO NOTHING`, l.ID, round.Attempts, round.Reason, round.FailedAt)
		if err != nil {
			return fmt.Errorf("insert failure round: %w", err)
		}
		switch {
		case tag.RowsAffected() == 0:
			outcome = domain.OutcomeDuplicate
			return nil
		case created:
			outcome = domain.OutcomeNew
		default:
			outcome = domain.OutcomeFailedAgain
			stored.FailedAgain(l, time.Now())
			if _, err := tx.Exec(ctx, `
				UPDATE dead_letters SET status = $2, queue = $3, handler = $4, reason = $5, attempts = $6,
					last_failed_at = $7, metadata = $8, updated_at = now()
				WHERE id = $1`,
				stored.ID, stored.Status, stored.Queue, stored.Handler, stored.Reason, stored.Attempts,
				stored.LastFailedAt, stored.Metadata); err != nil {
				return fmt.Errorf("update letter: %w", err)
			}
		}
		events, err := messaging.EventBus(outboxPublisher(tx))
		if err != nil {
			return err
		}
		return announce(ctx, stored, events)
	})
	if err != nil {
		return "", fmt.Errorf("save dead letter %s: %w", l.ID, err)
	}
	r.onCommit()
	return outcome, nil
}

// outboxPublisher writes events into the outbox inside tx. The span's
// context travels inside the stored message, so the forwarder continues the
// failed message's trace.
func outboxPublisher(tx pgx.Tx) message.Publisher {
	return telemetry.Publisher(outbox.Publisher(tx), "postgresql")
}

// Get returns the letter with id, purged or not.
func (r *Repository) Get(ctx context.Context, id string) (domain.Letter, error) {
	l, err := scanLetter(r.pool.QueryRow(ctx, `SELECT `+letterColumns+` FROM dead_letters WHERE id = $1`, id))
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return l, fmt.Errorf("get dead letter %s: %w", id, err)
	}
	return l, err
}

// History returns the letter's failure rounds and replays, oldest first.
func (r *Repository) History(ctx context.Context, id string) ([]domain.Failure, []domain.Replay, error) {
	failures, err := collect(ctx, r.pool, `
		SELECT attempts, reason, failed_at FROM dead_letter_failures WHERE letter_id = $1 ORDER BY attempts`, id,
		func(row pgx.CollectableRow) (domain.Failure, error) {
			var f domain.Failure
			return f, row.Scan(&f.Attempts, &f.Reason, &f.FailedAt)
		})
	if err != nil {
		return nil, nil, fmt.Errorf("failures of %s: %w", id, err)
	}
	replays, err := collect(ctx, r.pool, `
		SELECT replayed_at, attempts, queue FROM dead_letter_replays WHERE letter_id = $1 ORDER BY replayed_at`, id,
		func(row pgx.CollectableRow) (domain.Replay, error) {
			var p domain.Replay
			return p, row.Scan(&p.ReplayedAt, &p.Attempts, &p.Queue)
		})
	if err != nil {
		return nil, nil, fmt.Errorf("replays of %s: %w", id, err)
	}
	return failures, replays, nil
}

func collect[T any](ctx context.Context, pool *pgxpool.Pool, sql, id string, scan pgx.RowToFunc[T]) ([]T, error) {
	rows, err := pool.Query(ctx, sql, id)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scan)
	if out == nil {
		out = []T{}
	}
	return out, err
}

// List returns the letters f selects (never purged ones), newest failure first.
func (r *Repository) List(ctx context.Context, f domain.ListFilter) ([]domain.Letter, error) {
	where := []string{`status <> 'purged'`}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		where = append(where, `status = `+arg(f.Status))
	}
	if f.Handler != "" {
		where = append(where, `handler = `+arg(f.Handler))
	}
	if f.Reason != "" {
		where = append(where, `reason ILIKE `+arg("%"+likeEscaper.Replace(f.Reason)+"%"))
	}
	if !f.Before.IsZero() {
		where = append(where, `(last_failed_at, id) < (`+arg(f.Before)+`, `+arg(f.BeforeID)+`)`)
	}
	sql := `SELECT ` + letterColumns + ` FROM dead_letters WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY last_failed_at DESC, id DESC LIMIT ` + arg(f.Limit)
	rows, err := r.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	letters, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Letter, error) { return scanLetter(row) })
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return letters, nil
}

// likeEscaper makes a user's text match literally inside ILIKE.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// UpdateLetter changes the letter with id under a row lock: fn applies the
// domain's rules (and may do what must happen before the change commits,
// such as republishing it); then its state is written, with a replay row if
// fn replayed it. If fn fails, nothing changes.
func (r *Repository) UpdateLetter(ctx context.Context, id string, fn func(ctx context.Context, l *domain.Letter) error) (domain.Letter, error) {
	var l domain.Letter
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var err error
		if l, err = scanLetter(tx.QueryRow(ctx, `SELECT `+letterColumns+` FROM dead_letters WHERE id = $1 FOR UPDATE`, id)); err != nil {
			return err
		}
		replays := l.ReplayCount
		if err := fn(ctx, &l); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			UPDATE dead_letters SET status = $2, replayed_at = $3, replay_count = $4, purged_at = $5, updated_at = now()
			WHERE id = $1 RETURNING updated_at`,
			l.ID, l.Status, l.ReplayedAt, l.ReplayCount, l.PurgedAt).Scan(&l.UpdatedAt); err != nil {
			return fmt.Errorf("update letter: %w", err)
		}
		if l.ReplayCount > replays && l.ReplayedAt != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO dead_letter_replays (letter_id, replayed_at, attempts, queue) VALUES ($1, $2, $3, $4)`,
				l.ID, *l.ReplayedAt, l.Attempts, l.Queue); err != nil {
				return fmt.Errorf("record replay: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return l, fmt.Errorf("update dead letter %s: %w", id, err)
	}
	return l, nil
}

// Counts returns how many letters there are, by status (every status present).
func (r *Repository) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{domain.StatusDead: 0, domain.StatusReplayed: 0, domain.StatusPurged: 0}
	rows, err := r.pool.Query(ctx, `SELECT status, count(*) FROM dead_letters GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}
