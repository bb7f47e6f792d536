package messaging_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkConfirmedPublish measures confirmed publishes of BookRoom
// commands to commands.BookRoom from 256 goroutines: Staybook's Publisher
// (many confirms in flight per channel), watermill-amqp's publisher (one
// confirm at a time per channel, what Staybook used before), each beside
// the raw ceiling (amqp091, 4 channels with 1,000 deferred confirmations in
// flight each) measured right before it (metric ceiling_msg/s). Reproduce:
//
//	go test ./shared/messaging -run '^$' -bench ConfirmedPublish -benchtime 20000x -count 3
func BenchmarkConfirmedPublish(b *testing.B) {
	for _, channels := range []int{4, 32} {
		b.Run(fmt.Sprintf("publisher/channels=%d", channels), func(b *testing.B) {
			e, raw := publishBenchEnv(b)
			pub, err := messaging.NewPublisher(e.pubConn, messaging.PublisherConfig{Topology: e.topology, ChannelPoolSize: channels, Timeout: time.Minute})
			testkit.Must(b, err)
			defer pub.Close()
			publishFrom256(b, pub, raw)
		})
	}
	b.Run("watermill-amqp/channels=32", func(b *testing.B) {
		e, raw := publishBenchEnv(b)
		cfg := amqp.NewDurableQueueConfig("")
		cfg.Marshaler = messaging.Marshaler{}
		cfg.Publish.ConfirmDelivery = true
		cfg.Publish.ChannelPoolSize = 32
		pub, err := amqp.NewPublisherWithConnection(cfg, watermill.NopLogger{}, e.pubConn)
		testkit.Must(b, err)
		defer pub.Close()
		publishFrom256(b, pub, raw)
	})
}

// publishBenchEnv returns a broker with room for the benchmark's commands
// and the raw ceiling measured on it.
func publishBenchEnv(b *testing.B) (*env, float64) {
	b.Helper()
	topo := classic()
	topo.BookingQueueMax = 10_000_000
	e := newEnvTB(b, topo)
	publishing, err := (messaging.Marshaler{}).Marshal(bookRoomB(b, "ceiling"))
	testkit.Must(b, err)
	start := time.Now()
	testkit.Must(b, testkit.ConfirmedPublishCeiling(e.url, "", messaging.BookRoomQueue, publishing, b.N, 4, 1000))
	return e, float64(b.N) / time.Since(start).Seconds()
}

func publishFrom256(b *testing.B, pub message.Publisher, ceiling float64) {
	msgs := make(chan *message.Message, b.N)
	for i := range b.N {
		msgs <- bookRoomB(b, fmt.Sprint(i))
	}
	close(msgs)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			for msg := range msgs {
				if err := pub.Publish(messaging.BookRoomQueue, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(ceiling, "ceiling_msg/s")
}
