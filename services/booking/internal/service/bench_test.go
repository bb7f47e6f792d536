package service_test

import (
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkSettle measures how fast the booking service drains a backlog:
// b.N BookRoom commands wait in the queue, then the service starts and the
// clock runs until every booking is stored (confirmed; the large hotels
// have room for all). Reproduce:
//
//	go test ./services/booking/internal/service -run '^$' -bench Settle -benchtime 5000x
func BenchmarkSettle(b *testing.B) {
	s := newStack(b)
	cmds := make([]contracts.BookRoom, b.N)
	hotels := []string{"loadtest-grand-central", "loadtest-riverside-resort", "loadtest-harbour-plaza"}
	for i := range cmds {
		cmds[i] = command(hotels[i%3], []string{"single", "double", "twin", "suite", "family"}[i%5])
		cmds[i].CheckIn, cmds[i].CheckOut = "2031-06-01", "2031-06-03"
	}
	var wg sync.WaitGroup
	for part := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := part; i < len(cmds); i += 8 {
				s.send(b, cmds[i])
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	start := time.Now()
	s.start(b, 8)
	testkit.Eventually(b, 10*time.Minute, "backlog settled", func() bool {
		return s.count(b, `SELECT count(*) FROM bookings`) == b.N
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "settled/s")
	if n := testkit.QueueDepth(b, s.amqpURL, messaging.BookRoomQueue); n != 0 {
		b.Fatalf("%d commands left", n)
	}
}
