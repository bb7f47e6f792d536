// Package outbox is the transactional outbox: events are written to a
// PostgreSQL table in the same transaction as the state change they announce,
// and a Forwarder publishes them to RabbitMQ afterwards. A crash between
// commit and publish loses nothing: the row waits in the table.
//
// Writing uses Watermill (components/forwarder's envelope over watermill-sql's
// PostgreSQL queue schema): Publisher, or Events to write the events of a
// transaction in one INSERT. Reading is Staybook's own: watermill-sql v4.1.2's
// subscriber deletes every row of a batch when its ack deadline runs out
// mid-batch, published or not (docs/upstream/watermill-sql-ack-deadline.md).
// The Forwarder deletes a row only once the broker confirmed its event.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Topic is the forwarder's topic; its table is "watermill_outbox".
const Topic = "outbox"

// Table is the outbox table. The services' migrations create it (with a
// 64-bit offset); its columns are watermill-sql's PostgreSQL queue schema.
const Table = `"watermill_` + Topic + `"`

var schema = wsql.PostgreSQLQueueSchema{}

// Publisher returns a publisher that writes into the outbox inside tx, one
// INSERT per Publish call (with all of that call's messages). Publish
// events through it before committing tx. A transaction that publishes
// through a cqrs.EventBus, one call per event, writes them in one INSERT
// with Events instead.
func Publisher(tx pgx.Tx) message.Publisher {
	return forwarder.NewPublisher(sqlPublisher(tx), forwarder.PublisherConfig{ForwarderTopic: Topic})
}

// sqlPublisher is watermill-sql's publisher on tx, in the outbox's schema.
func sqlPublisher(tx pgx.Tx) *wsql.Publisher {
	pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: schema}, watermill.NopLogger{})
	if err != nil {
		panic(err) // only on a nil schema adapter
	}
	return pub
}

// Config configures a Forwarder.
type Config struct {
	Pool *pgxpool.Pool
	// Out is where events go (the AMQP publisher, decorated for tracing and
	// metrics). Its Publish must return nil only for a confirmed event.
	Out message.Publisher
	// BatchSize is how many rows one transaction reads, publishes at once
	// and deletes (default 200).
	BatchSize int
	// Workers is how many batches are in flight at once, each in its own
	// transaction (default 4). Rows are locked with SKIP LOCKED, so workers
	// and replicas never publish the same row at the same time.
	Workers int
	// Commits, if set, wakes a worker when a writer of this process says
	// it committed events (see Commits). Nil: only the fallback poll does.
	Commits *Commits
	// PollInterval is the fallback poll: how often a worker is woken to look
	// for rows no Committed announced (default 2 s): those of other
	// replicas, of a writer that crashed after its commit, of a process
	// whose writers do not call Committed.
	PollInterval time.Duration
	// RetryInterval is the pause after a batch of which nothing could be
	// published, or after a database error (default 1 s).
	RetryInterval time.Duration
	// VacuumInterval is how often the forwarder vacuums the table itself
	// where PostgreSQL's autovacuum will not (default 1 min; see vacuum.go).
	VacuumInterval time.Duration
	Logger         *slog.Logger
}

// Forwarder moves outbox rows to the broker. A row is deleted only after
// its event was confirmed; an event that fails stays in the table and is
// tried again, however long the failure lasts. An event may be published
// twice (a crash between the confirm and the delete's commit), never zero
// times, and events of different rows are published concurrently, so they
// may reach the broker in another order than they were written.
type Forwarder struct {
	cfg     Config
	running chan struct{}
	once    sync.Once
	wakeups // how commits wake the workers (wakeup.go)

	// vacuumItself: autovacuum is off for the table, so the forwarder
	// vacuums it (vacuum.go); deleted counts the rows deleted since.
	vacuumItself bool
	deleted      atomic.Int64
}

// NewForwarder builds a forwarder; the table must exist (migrations).
func NewForwarder(ctx context.Context, cfg Config) (*Forwarder, error) {
	if cfg.Pool == nil || cfg.Out == nil {
		panic("outbox: Config.Pool and Config.Out are required")
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 200
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.VacuumInterval == 0 {
		cfg.VacuumInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BatchSize < 1 || cfg.Workers < 1 || cfg.PollInterval < 0 || cfg.RetryInterval < 0 || cfg.VacuumInterval < 0 {
		return nil, fmt.Errorf("outbox: batch size %d, workers %d and intervals must be positive", cfg.BatchSize, cfg.Workers)
	}
	var exists bool
	if err := cfg.Pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, Table).Scan(&exists); err != nil {
		return nil, fmt.Errorf("outbox: look up table %s: %w", Table, err)
	}
	if !exists {
		return nil, fmt.Errorf("outbox: table %s does not exist (run the migrations)", Table)
	}
	autovacuum, err := autovacuumOn(ctx, cfg.Pool)
	if err != nil {
		return nil, err
	}
	if !autovacuum {
		cfg.Logger.WarnContext(ctx, "PostgreSQL's autovacuum is off for the outbox table: the forwarder vacuums it itself",
			"table", Table, "every", cfg.VacuumInterval)
	}
	return &Forwarder{cfg: cfg, running: make(chan struct{}), wakeups: newWakeups(cfg.Commits), vacuumItself: !autovacuum}, nil
}

// Running is closed once the forwarder's workers have started.
func (f *Forwarder) Running() chan struct{} { return f.running }

// Run forwards until ctx ends. A batch in flight when ctx ends finishes:
// its confirmed rows are deleted, so they are not published again.
func (f *Forwarder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { f.pollEvery(ctx, f.cfg.PollInterval) })
	if f.vacuumItself {
		wg.Go(func() { f.vacuumEvery(ctx, f.cfg.VacuumInterval) })
	}
	for range f.cfg.Workers {
		wg.Go(func() { f.work(ctx) })
	}
	f.once.Do(func() { close(f.running) })
	wg.Wait()
	return nil
}

// work forwards batches while there are rows, then sleeps until woken.
func (f *Forwarder) work(ctx context.Context) {
	for ctx.Err() == nil {
		read, published, err := f.ForwardBatch(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				f.cfg.Logger.WarnContext(ctx, "outbox batch failed; rows stay for the next one", "err", err)
			}
			pause(ctx, f.cfg.RetryInterval)
		case read > 0 && published == 0:
			// Nothing went out (the broker is down, say): not again before
			// the pause, however many commits wake the workers.
			pause(ctx, f.cfg.RetryInterval)
		case read == f.cfg.BatchSize:
			// More rows may wait: read on at once, and have another worker
			// help (it wakes a third if it finds a full batch too).
			f.wakeHelper()
		case published < read:
			// Some events failed (or a row is not an envelope): try them
			// again after the pause, or sooner if a commit wakes this worker.
			f.sleep(ctx, f.cfg.RetryInterval)
		default:
			// The table is drained, but for rows committed after this
			// batch's read: each of those commits wakes a worker (its
			// writer calls Commits.Committed), this one or one busy now,
			// which reads again once its batch is done.
			f.sleep(ctx, 0)
		}
	}
}

// deleteTimeout bounds the delete and commit after a batch was published,
// which run even when the forwarder is stopping.
const deleteTimeout = 10 * time.Second

// ForwardBatch reads up to BatchSize rows no one else holds, publishes
// their events concurrently, deletes the rows whose events were confirmed
// and commits. It reports how many rows it read and how many it published
// (and deleted). Rows whose event failed stay, unlocked at commit.
func (f *Forwarder) ForwardBatch(ctx context.Context) (read, published int, err error) {
	tx, err := f.cfg.Pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	events, err := f.lockBatch(ctx, tx)
	if err != nil || len(events) == 0 {
		return 0, 0, err
	}
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	for i, ev := range events {
		if ev.err != nil {
			errs[i] = ev.err
			continue
		}
		wg.Go(func() { errs[i] = f.cfg.Out.Publish(ev.topic, ev.msg) })
	}
	wg.Wait()

	done := make([]int64, 0, len(events))
	var failures []error
	for i, ev := range events {
		if errs[i] == nil {
			done = append(done, ev.offset)
		} else {
			failures = append(failures, fmt.Errorf("row %d: %w", ev.offset, errs[i]))
		}
	}
	if len(failures) > 0 {
		f.cfg.Logger.WarnContext(ctx, "outbox events not published; their rows stay",
			"failed", len(failures), "published", len(done), "first_err", failures[0])
	}
	if len(done) == 0 {
		return len(events), 0, nil
	}
	// The events are out: record it even if the forwarder is stopping, or
	// they would be published again.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	if _, err := tx.Exec(dctx, `DELETE FROM `+Table+` WHERE "offset" = ANY($1)`, done); err != nil {
		return len(events), 0, fmt.Errorf("delete %d forwarded rows (they will be published again): %w", len(done), err)
	}
	if err := tx.Commit(dctx); err != nil {
		return len(events), 0, fmt.Errorf("commit %d forwarded rows (they will be published again): %w", len(done), err)
	}
	f.deleted.Add(int64(len(done)))
	return len(events), len(done), nil
}

// event is one outbox row, unwrapped.
type event struct {
	offset int64
	topic  string
	msg    *message.Message
	err    error // the row cannot be unwrapped; it stays for an operator
}

func (f *Forwarder) lockBatch(ctx context.Context, tx pgx.Tx) ([]event, error) {
	rows, err := tx.Query(ctx, `SELECT "offset", payload FROM `+Table+`
		ORDER BY "offset" LIMIT $1 FOR UPDATE SKIP LOCKED`, f.cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	var events []event
	for rows.Next() {
		var ev event
		var payload []byte
		if err := rows.Scan(&ev.offset, &payload); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read outbox row: %w", err)
		}
		ev.topic, ev.msg, ev.err = unwrap(payload)
		if ev.err != nil {
			f.cfg.Logger.ErrorContext(ctx, "outbox row cannot be forwarded; it stays in the table", "offset", ev.offset, "err", ev.err)
		} else {
			// The trace context travels in the metadata; the publisher's
			// tracing decorator continues it.
			ev.msg.SetContext(context.WithoutCancel(ctx))
		}
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return events, nil
}

// envelope is components/forwarder's envelope (its type is unexported).
type envelope struct {
	DestinationTopic string            `json:"destination_topic"`
	UUID             string            `json:"uuid"`
	Payload          []byte            `json:"payload"`
	Metadata         map[string]string `json:"metadata"`
}

var errBadEnvelope = errors.New("not a forwarder envelope")

func unwrap(payload []byte) (string, *message.Message, error) {
	var e envelope
	if err := json.Unmarshal(payload, &e); err != nil {
		return "", nil, fmt.Errorf("%w: %w", errBadEnvelope, err)
	}
	if e.DestinationTopic == "" {
		return "", nil, fmt.Errorf("%w: no destination topic", errBadEnvelope)
	}
	msg := message.NewMessage(e.UUID, e.Payload)
	if e.Metadata != nil {
		msg.Metadata = e.Metadata
	}
	return e.DestinationTopic, msg, nil
}

// Lag is the age of the oldest event not yet forwarded (0 when none waits).
func Lag(ctx context.Context, pool *pgxpool.Pool) (time.Duration, int, error) {
	var oldest *time.Time
	var n int
	err := pool.QueryRow(ctx, `SELECT min(created_at), count(*) FROM `+Table).Scan(&oldest, &n)
	if err != nil || oldest == nil {
		return 0, n, err
	}
	return time.Since(*oldest), n, nil
}
