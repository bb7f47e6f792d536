package messaging_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// watermill-amqp v3.0.2 drops a pooled channel for good when reopening it
// fails after a connection drop; with the pool empty, every publish would
// wait for ever while the connection looks healthy. The publisher renews
// its pools after publishes keep timing out while connected.
func TestPublisher_RecoversItsChannelsAfterConnectionDrops_ConnectionLost(t *testing.T) {
	testkit.SkipIfConnectionLossUnderRace(t)
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	u, _ := url.Parse(amqpURL)
	proxy := testkit.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	conn, err := messaging.Connect(testkit.Context(t), u.String(), "publish", testLogger())
	testkit.Must(t, err)
	t.Cleanup(func() { conn.Close() })
	topo := classic()
	topo.BookingQueueMax = 1_000_000
	testkit.Must(t, topo.DeclareOn(conn))
	pub, err := messaging.NewPublisher(conn, messaging.PublisherConfig{Topology: topo, ChannelPoolSize: 4, Timeout: 500 * time.Millisecond, Logger: testLogger()})
	testkit.Must(t, err)
	t.Cleanup(func() { pub.Close() })

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				pub.Publish(messaging.BookRoomQueue, bookRoomB(t, fmt.Sprintf("%d-%d", w, i)))
			}
		}()
	}
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		proxy.Cut()
		time.Sleep(300 * time.Millisecond)
		proxy.Restore()
	}
	stop()
	wg.Wait()
	testkit.Eventually(t, 30*time.Second, "publishing works again", func() bool {
		return pub.IsConnected() && pub.Publish(messaging.BookRoomQueue, bookRoomB(t, "after")) == nil
	})
}
