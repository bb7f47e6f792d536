// Package outbox is the transactional outbox: events are written to a
// PostgreSQL table in the same transaction as the state change they announce,
// and a forwarder (Watermill's components/forwarder over watermill-sql's
// queue schema, delete on ack) publishes them to RabbitMQ afterwards. A crash
// between commit and publish loses nothing: the row waits in the table.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
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

// Table is the outbox table.
const Table = `"watermill_` + Topic + `"`

var schema = wsql.PostgreSQLQueueSchema{SubscribeBatchSize: 100}

// Publisher returns a publisher that writes into the outbox inside tx.
// Publish events through it before committing tx.
func Publisher(tx pgx.Tx) message.Publisher {
	pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: schema}, watermill.NopLogger{})
	if err != nil {
		panic(err) // only on a nil schema adapter
	}
	return forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: Topic})
}

// Config configures a Forwarder.
type Config struct {
	Pool *pgxpool.Pool
	// Out is where events go (the AMQP publisher, decorated for tracing).
	Out message.Publisher
	// PollInterval is how often an idle forwarder looks for new rows.
	PollInterval time.Duration
	// Middleware wraps the forwarding handler (tracing, metrics).
	Middleware []message.HandlerMiddleware
	Logger     *slog.Logger
}

// Forwarder moves outbox rows to the broker.
type Forwarder struct {
	fwd *forwarder.Forwarder
	sub *wsql.Subscriber
}

// NewForwarder creates the outbox table if needed and builds the forwarder.
func NewForwarder(ctx context.Context, cfg Config) (*Forwarder, error) {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(cfg.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(cfg.Pool), wsql.SubscriberConfig{
		SchemaAdapter:    schema,
		OffsetsAdapter:   wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
		PollInterval:     cfg.PollInterval,
		ResendInterval:   time.Second,
		RetryInterval:    time.Second,
		InitializeSchema: true,
	}, wlog)
	if err != nil {
		return nil, fmt.Errorf("outbox subscriber: %w", err)
	}
	if err := sub.SubscribeInitialize(Topic); err != nil {
		return nil, fmt.Errorf("create outbox table: %w", err)
	}
	fwd, err := forwarder.NewForwarder(sub, cfg.Out, wlog, forwarder.Config{
		ForwarderTopic: Topic,
		Middlewares:    cfg.Middleware,
		CloseTimeout:   10 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox forwarder: %w", err)
	}
	return &Forwarder{fwd: fwd, sub: sub}, nil
}

// Run forwards until ctx ends.
func (f *Forwarder) Run(ctx context.Context) error {
	err := f.fwd.Run(ctx)
	f.sub.Close()
	return err
}

// Running is closed once the forwarder is consuming.
func (f *Forwarder) Running() chan struct{} { return f.fwd.Running() }

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
