package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/cenkalti/backoff/v5"
)

// Connect opens an AMQP connection, retrying with backoff until ctx ends:
// Watermill retries reconnects forever but not the first connect, and in
// compose a service may start before RabbitMQ accepts connections.
// Use one connection for publishing and another for consuming.
func Connect(ctx context.Context, url, name string, log *slog.Logger) (*amqp.ConnectionWrapper, error) {
	cfg := amqp.ConnectionConfig{
		AmqpURI:   url,
		Reconnect: &amqp.ReconnectConfig{BackoffInitialInterval: 200 * time.Millisecond, BackoffMultiplier: 2, BackoffMaxInterval: 5 * time.Second},
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(log.With("amqp_connection", name), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // Watermill logs every subscribe at info
	})
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 3 * time.Second
	attempt := 0
	conn, err := backoff.Retry(ctx, func() (*amqp.ConnectionWrapper, error) {
		attempt++
		c, err := amqp.NewConnection(cfg, wlog)
		if err != nil {
			log.WarnContext(ctx, "rabbitmq not reachable yet, retrying", "attempt", attempt, "err", err)
		}
		return c, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(err, ctxErr)
		}
		return nil, fmt.Errorf("connect to rabbitmq (%s): %w", name, err)
	}
	return conn, nil
}

// ConnectionCheck reports whether conn is connected (for /readyz).
func ConnectionCheck(conn *amqp.ConnectionWrapper) func(context.Context) error {
	return func(context.Context) error {
		if !conn.IsConnected() {
			return errors.New("not connected to rabbitmq")
		}
		return nil
	}
}
