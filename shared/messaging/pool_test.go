package messaging_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/testkit"
)

// Channels die with their connection, and reopening one fails while the
// connection is down or half up (watermill-amqp v3.0.2's own pool lost such
// channels for good). The publisher reopens a channel at the next publish
// after it closed: after repeated drops under load, publishing works again.
func TestPublisher_RecoversItsChannelsAfterConnectionDrops_ConnectionLost(t *testing.T) {
	testkit.SkipIfConnectionLossUnderRace(t)
	t.Parallel()
	topo := classic()
	topo.BookingQueueMax = 1_000_000
	_, proxy, pub := proxiedPublisher(t, messaging.PublisherConfig{Topology: topo, ChannelPoolSize: 4, Timeout: 500 * time.Millisecond})

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed, published atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if pub.Publish(messaging.BookRoomQueue, bookRoomB(t, fmt.Sprintf("%d-%d", w, i))) != nil {
					failed.Add(1)
				} else {
					published.Add(1)
				}
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
	// The cuts must have broken publishing, or the test proves nothing.
	if failed.Load() == 0 || published.Load() == 0 {
		t.Fatalf("during the cuts: %d publishes failed, %d succeeded; want some of each", failed.Load(), published.Load())
	}
	testkit.Eventually(t, 30*time.Second, "publishing works again", func() bool {
		return pub.IsConnected() && pub.Publish(messaging.BookRoomQueue, bookRoomB(t, "after")) == nil
	})
}

// proxiedPublisher is a Publisher (cfg, its topology declared) that reaches
// a vhost of its own through a proxy the test can cut or stall.
func proxiedPublisher(t *testing.T, cfg messaging.PublisherConfig) (string, *testkit.Proxy, *messaging.Publisher) {
	t.Helper()
	amqpURL := testkit.Vhost(t)
	proxied, proxy := testkit.ProxyURL(t, amqpURL)
	conn := messagingtest.Connect(t, proxied, "publish", testLogger())
	testkit.Must(t, cfg.Topology.DeclareOn(conn))
	cfg.Logger = testLogger()
	pub := messagingtest.Publisher(t, conn, cfg)
	return amqpURL, proxy, pub
}
