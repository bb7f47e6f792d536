package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkSettle measures how fast the booking service drains a backlog:
// b.N BookRoom commands wait in the queue; the service is built (database
// migrated, broker connected, topology declared) before the clock starts;
// the clock runs from Run until the service reports the last booking
// committed (confirmed: the large hotels have room for all). Nothing polls
// while it runs. Reproduce:
//
//	go test ./services/booking -run '^$' -bench Settle -benchtime 3000x
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

	cfg := DefaultConfig()
	cfg.AMQPURL, cfg.DatabaseURL, cfg.HTTPAddr = s.amqpURL, s.dbURL, "127.0.0.1:0"
	cfg.Workers = 8
	cfg.AMQPQueueType, cfg.BookingQueueMax, cfg.QuorumDeliveryMax = "classic", 100000, 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var left atomic.Int64
	left.Store(int64(b.N))
	settled := make(chan struct{})
	p := program
	p.Build = wiring{onSettled: func(created bool) {
		if created && left.Add(-1) == 0 {
			close(settled)
		}
	}}.build
	svc, err := p.New(ctx, cfg, quiet())
	testkit.Must(b, err)
	defer svc.Close()
	done := make(chan error, 1)

	b.ResetTimer()
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-settled:
	case err := <-done:
		b.Fatalf("booking stopped: %v", err)
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d bookings settled after 10 minutes", int64(b.N)-left.Load(), b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "settled/s")

	cancel()
	if err := <-done; err != nil {
		b.Errorf("run: %v", err)
	}
	if n := s.count(b, `SELECT count(*) FROM bookings WHERE status = 'confirmed'`); n != b.N {
		b.Fatalf("%d bookings confirmed, want %d", n, b.N)
	}
	if n := testkit.QueueDepth(b, s.amqpURL, messaging.BookRoomQueue); n != 0 {
		b.Fatalf("%d commands left", n)
	}
}
