package messaging_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
)

// BenchmarkConfirmedPublish measures confirmed publishes to commands.BookRoom
// through the shared Publisher from 64 goroutines. Reproduce:
//
//	go test ./shared/messaging -run '^$' -bench ConfirmedPublish -benchtime 20000x
func BenchmarkConfirmedPublish(b *testing.B) {
	for _, channels := range []int{8, 32, 128} {
		b.Run(fmt.Sprintf("channels=%d", channels), func(b *testing.B) {
			topo := classic()
			topo.BookingQueueMax = 10_000_000
			e := newEnvTB(b, topo)
			pub, err := messaging.NewPublisher(e.pubConn, messaging.PublisherConfig{Topology: topo, ChannelPoolSize: channels, Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Close()
			msgs := make(chan int, b.N)
			for i := range b.N {
				msgs <- i
			}
			close(msgs)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range msgs {
						if err := pub.Publish(messaging.BookRoomQueue, bookRoomB(b, fmt.Sprint(i))); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
