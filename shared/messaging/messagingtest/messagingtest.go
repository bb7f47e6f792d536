// Package messagingtest holds test helpers for code that talks to RabbitMQ
// through shared/messaging: a connection and a publisher that close
// themselves when the test ends.
package messagingtest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"

	"github.com/staybook/staybook/shared/messaging"
)

// Connect connects to amqpURL as name (trying for up to 20 s, as a service
// starting beside the broker would); the connection is closed when the test
// ends. A nil log logs nothing.
func Connect(t testing.TB, amqpURL, name string, log *slog.Logger) *amqp.ConnectionWrapper {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := messaging.Connect(ctx, amqpURL, name, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Publisher is a Publisher with cfg on conn, closed when the test ends
// (before conn).
func Publisher(t testing.TB, conn *amqp.ConnectionWrapper, cfg messaging.PublisherConfig) *messaging.Publisher {
	t.Helper()
	pub, err := messaging.NewPublisher(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	return pub
}

// DeclaredPublisher connects to amqpURL, declares cfg.Topology there, and
// returns a Publisher with cfg: a test's broker set up as the services
// would find it.
func DeclaredPublisher(t testing.TB, amqpURL string, cfg messaging.PublisherConfig) *messaging.Publisher {
	t.Helper()
	conn := Connect(t, amqpURL, "test", cfg.Logger)
	if err := cfg.Topology.DeclareOn(conn); err != nil {
		t.Fatalf("declare the topology: %v", err)
	}
	return Publisher(t, conn, cfg)
}
