package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/telemetry"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/app/apptest"
	"github.com/staybook/staybook/services/web/internal/ports/ratelimit"
)

// BenchmarkAccept is the front door's hot path: POST /api/bookings over
// HTTP (loopback, keep-alive), validated, given its ID and published as a
// BookRoom command (app.Bookings.Place, through the cqrs CommandBus),
// answered 202 once the broker confirmed it. "confirmed"
// publishes through Staybook's publisher to RabbitMQ (a vhost of its own,
// classic queues); "no-broker" takes the publish in memory, so only the
// web tier's own work shows. Requests come from 64 goroutines at once.
// The booking service is a fake that knows no Idempotency-Key. cpu-µs/op
// is this process's CPU per request: the HTTP client's share included.
// Reproduce:
//
//	go test ./services/web/internal/ports/api -run '^$' -bench Accept -benchtime 5000x -count 3
func BenchmarkAccept(b *testing.B) {
	b.Run("no-broker", func(b *testing.B) {
		// The command is still marshalled and "published", to memory.
		commands, err := messaging.CommandBus(discardPublisher{})
		testkit.Must(b, err)
		benchAccept(b, commands)
	})
	b.Run("confirmed", func(b *testing.B) {
		// The vhost's cleanup asks the management API through
		// http.DefaultClient: its keep-alive connection must not outlive
		// the benchmark (TestMain looks for goroutines left running).
		b.Cleanup(http.DefaultClient.CloseIdleConnections)
		url := testkit.Vhost(b)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		log := slog.New(slog.DiscardHandler)
		conn, err := messaging.Connect(ctx, url, "bench-publish", log)
		testkit.Must(b, err)
		defer conn.Close()
		topo := messaging.Topology{QueueType: messaging.QueueTypeClassic, BookingQueueMax: 10_000_000, DeliveryLimit: 20}
		testkit.Must(b, topo.DeclareOn(conn))
		pub, err := messaging.NewPublisher(conn, messaging.PublisherConfig{Topology: topo, Timeout: time.Minute, Logger: log})
		testkit.Must(b, err)
		defer pub.Close()
		commands, err := messaging.CommandBus(telemetry.Publisher(pub, "rabbitmq"))
		testkit.Must(b, err)
		benchAccept(b, commands)
	})
}

func benchAccept(b *testing.B, commands app.Commands) {
	a, err := New(Config{Bookings: apptest.BookingsSending(b, commands, now), Hub: app.NewHub(), Logger: slog.New(slog.DiscardHandler),
		Streams: app.NewStreams(app.StreamLimits{Max: 10, MaxPerClient: 10}), ClientAddress: ratelimit.ClientAddresses{}.Of})
	testkit.Must(b, err)
	mux := http.NewServeMux()
	a.Register(mux)
	srv := httptest.NewServer(telemetry.HTTPHandler(mux, "web"))
	transport := &http.Transport{MaxIdleConnsPerHost: 128}
	defer func() {
		srv.Close() // the server ends the connections, and so the client's loops
		transport.CloseIdleConnections()
	}()
	client := &http.Client{Transport: transport, Timeout: time.Minute}

	const body = `{"hotel_id":"lisbon-alfama-house","room_type":"double","check_in":"2030-03-12","check_out":"2030-03-14",` +
		`"guests":2,"guest_name":"Ana Silva","guest_email":"ana@example.com"}`
	var seq atomic.Int64
	post := func() error {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/bookings", strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(app.IdempotencyKeyField, fmt.Sprintf("bench-%d", seq.Add(1)))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d, want 202", resp.StatusCode)
		}
		return nil
	}
	for range 50 { // connections and the publisher's channels up
		testkit.Must(b, post())
	}
	before := testkit.ProcessCPU(b)
	b.ReportAllocs()
	b.SetParallelism(32) // 64 requests in flight on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := post(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	testkit.ReportCPUPerOp(b, before)
}

// discardPublisher takes every message and keeps none.
type discardPublisher struct{}

func (discardPublisher) Publish(string, ...*message.Message) error { return nil }
func (discardPublisher) Close() error                              { return nil }
