// Package testkit is the one copy of Staybook's test helpers. It gives tests
// isolated infrastructure: a RabbitMQ vhost and a PostgreSQL database of their
// own (removed when the test ends), free ports, a TCP proxy to cut; a poll
// helper that waits for a condition with a deadline; and the goleak TestMain.
// Tests that use it run in parallel, repeatedly, and beside a running
// `make dev`. docs/testing.md lists what it holds.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Environment variables that point tests at other servers.
var (
	AMQPBase       = getenv("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	RabbitAdminURL = getenv("TEST_RABBITMQ_ADMIN_URL", "http://guest:guest@127.0.0.1:15672")
	PostgresAdmin  = getenv("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
)

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Name returns a short random name with prefix, safe for vhosts, databases and queues.
func Name(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// Vhost creates a RabbitMQ vhost for the test (deleted at its end) and returns
// an AMQP URL for it. It needs the management plugin
// (rabbitmq-plugins enable rabbitmq_management).
func Vhost(t testing.TB) string {
	t.Helper()
	name := Name("test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	amqpURL, err := CreateVhost(ctx, RabbitAdminURL, AMQPBase, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DeleteVhost(context.Background(), RabbitAdminURL, name) })
	return amqpURL
}

// QueueDepth returns the number of messages ready in queue (a passive
// declare: exact, unlike the management API's sampled statistics).
func QueueDepth(t testing.TB, amqpURL, queue string) int {
	t.Helper()
	conn, err := amqp091.Dial(amqpURL)
	if err != nil {
		t.Fatalf("queue depth: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("queue depth: %v", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("queue depth of %s: %v", queue, err)
	}
	return q.Messages
}

// Database creates a PostgreSQL database for the test (dropped at its end)
// and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	name := Name("test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL, err := CreateDatabase(ctx, PostgresAdmin, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		DropDatabase(ctx, PostgresAdmin, name)
	})
	return dbURL
}

// Eventually polls cond every interval until it returns true or timeout
// passes, then fails the test with msg.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Context returns a context cancelled when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("unexpected error: %w", err))
	}
}

// SkipIfConnectionLossUnderRace skips a test that drops a broker connection
// when the race detector is on: watermill-amqp v3.0.2 replaces
// ConnectionWrapper.connected without a lock when a connection drops while
// IsConnected reads it, a race inside the library the detector flags in
// every such test. Name such tests ...ConnectionLost...: `make test` runs
// them again without -race, so they still run.
func SkipIfConnectionLossUnderRace(t testing.TB) {
	t.Helper()
	if RaceEnabled {
		t.Skip("drops a broker connection: watermill-amqp v3.0.2 races on reconnect; run by make test without -race")
	}
}

// Channel opens an AMQP connection to amqpURL and a channel on it, both
// closed when the test ends: for a test that declares, publishes or takes
// messages itself. (A consumer on it would keep taking messages until then.)
func Channel(t testing.TB, amqpURL string) *amqp091.Channel {
	t.Helper()
	conn, err := amqp091.Dial(amqpURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", amqpURL, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("open a channel: %v", err)
	}
	return ch
}
