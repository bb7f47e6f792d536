package outbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

var benchTopic = messaging.EventTopic(messaging.EventBookingConfirmed) // two queues bound: voucher, notification

func confirmedEvent(tb testing.TB, i int) *message.Message {
	id := fmt.Sprintf("bench-%08d", i)
	msg, err := contracts.NewMessage(context.Background(), contracts.BookingConfirmed{
		BookingID: id, HotelID: "lisbon-alfama-house", HotelName: "Alfama House", HotelCity: "Lisbon",
		HotelAddress: "Rua de São Miguel 12, 1100-544 Lisboa", RoomType: "double", RoomTypeName: "Double room",
		Nights: 3, Guests: 2, GuestName: "Ana Silva", GuestEmail: "ana@example.com",
		TotalPrice: contracts.Money{Amount: 36000, Currency: "EUR"}, ConfirmedAt: time.Now().UTC(),
	}, id)
	testkit.Must(tb, err)
	msg.Metadata.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	return msg
}

// benchBroker is a vhost with the topology declared and a Publisher on it.
func benchBroker(b *testing.B) (string, *messaging.Publisher) {
	b.Helper()
	url := testkit.Vhost(b)
	log := slog.New(slog.DiscardHandler)
	conn := messagingtest.Connect(b, url, "bench", log)
	topo := messaging.Topology{QueueType: messaging.QueueTypeClassic, BookingQueueMax: 1000, DeliveryLimit: 20}
	testkit.Must(b, topo.DeclareOn(conn))
	return url, messagingtest.Publisher(b, conn, messaging.PublisherConfig{Topology: topo, Timeout: time.Minute, Logger: log})
}

// fillOutbox writes n events as booking transactions would (1,000 a transaction).
func fillOutbox(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	for start := 0; start < n; start += 1000 {
		testkit.Must(b, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			msgs := make([]*message.Message, 0, 1000)
			for i := start; i < min(n, start+1000); i++ {
				msgs = append(msgs, confirmedEvent(b, i))
			}
			return outbox.Publisher(tx).Publish(benchTopic, msgs...)
		}))
	}
}

// ceiling measures, on url, the raw confirmed-publish rate of n events
// (amqp091, 4 channels, each with 1,000 deferred confirmations in flight):
// the baseline each sub-benchmark reports beside its own figure, measured
// just before it, since the machine's load changes from minute to minute.
func ceiling(b *testing.B, url string, n int) float64 {
	b.Helper()
	publishing, err := (messaging.Marshaler{}).Marshal(confirmedEvent(b, 0))
	testkit.Must(b, err)
	start := time.Now()
	testkit.Must(b, testkit.ConfirmedPublishCeiling(url, benchTopic, "", publishing, n, 4, 1000))
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkForwarder measures events moved from the outbox table to
// RabbitMQ (confirmed, each to two durable queues), and Staybook's
// Publisher alone (800 concurrent publishes, as the forwarder's 4 workers
// x 200 rows), each beside the raw ceiling of the same broker measured
// right before it (metric ceiling_events/s). Reproduce:
//
//	go test ./shared/outbox -run '^$' -bench Forwarder -benchtime 20000x -count 3
func BenchmarkForwarder(b *testing.B) {
	b.Run("publisher", func(b *testing.B) {
		url, pub := benchBroker(b)
		msgs := make(chan *message.Message, b.N)
		for i := range b.N {
			msgs <- confirmedEvent(b, i)
		}
		close(msgs)
		raw := ceiling(b, url, b.N)
		b.ResetTimer()
		var wg sync.WaitGroup
		for range 800 {
			wg.Go(func() {
				for msg := range msgs {
					if err := pub.Publish(benchTopic, msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(raw, "ceiling_events/s")
	})
	for _, c := range []struct{ batch, workers int }{{1, 1}, {50, 4}, {200, 4}, {500, 4}} {
		b.Run(fmt.Sprintf("forwarder/batch=%d/workers=%d", c.batch, c.workers), func(b *testing.B) {
			n := b.N
			if c.batch == 1 {
				n = min(n, 500) // one event at a time, as the previous forwarder: slow
			}
			url, pub := benchBroker(b)
			pool := testPool(b)
			fillOutbox(b, pool, n)
			raw := ceiling(b, url, n)
			b.ResetTimer()
			runForwarder(b, outbox.Config{Pool: pool, Out: pub, BatchSize: c.batch, Workers: c.workers, PollInterval: 5 * time.Millisecond})
			for rowsLeft(b, pool) > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(raw, "ceiling_events/s")
		})
	}
	// The database side alone: the same forwarder with a stub for a broker
	// that confirms at once.
	b.Run("forwarder/batch=200/workers=4/no-broker", func(b *testing.B) {
		pool := testPool(b)
		fillOutbox(b, pool, b.N)
		b.ResetTimer()
		runForwarder(b, outbox.Config{Pool: pool, Out: &brokerStub{}, BatchSize: 200, Workers: 4, PollInterval: 5 * time.Millisecond})
		for rowsLeft(b, pool) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
