package outbox_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkOutboxUnderLoad measures the forwarder beside writers: 8
// goroutines commit b.N events, one a transaction (as booking workers do),
// at a fixed rate (160 and 600 a second: a booking commits about 4
// transactions with events, so 40 and 150 bookings a second) or as fast as
// they can (max), while the forwarder publishes them to a stub broker that
// confirms at once. It reports the CPU per second and per event of this
// process (writers and forwarder) and of the database's PostgreSQL backends,
// the commit-to-publish latency, and the commits per second the writers
// achieved. Reproduce:
//
//	go test ./shared/outbox -run '^$' -bench OutboxUnderLoad -benchtime 3000x -count 6
func BenchmarkOutboxUnderLoad(b *testing.B) {
	for _, rate := range []int{160, 600, 0} {
		for _, poll := range []time.Duration{50 * time.Millisecond, 2 * time.Second} {
			name := fmt.Sprintf("rate=%d/poll=%s", rate, poll)
			if rate == 0 {
				name = "rate=max/poll=" + poll.String()
			}
			b.Run(name, func(b *testing.B) { forwardUnderLoad(b, rate, poll) })
		}
	}
}

func forwardUnderLoad(b *testing.B, rate int, poll time.Duration) {
	pool := testPool(b)
	broker := &stampedBroker{at: make(map[string]time.Time, b.N)}
	commits := outbox.NewCommits()
	runForwarder(b, outbox.Config{Pool: pool, Out: broker, Commits: commits, PollInterval: poll})
	commitAll(b, pool, commits, "warm", 8*16, 0) // the pool's connections opened
	testkit.Eventually(b, time.Minute, "warm-up forwarded", func() bool { return rowsLeft(b, pool) == 0 })

	backends := backendPIDs(b, pool)
	self0, pg0 := testkit.ProcessCPU(b), backendsCPU(backends)
	b.ResetTimer()
	committed := commitAll(b, pool, commits, "load", b.N, rate)
	writing := b.Elapsed()
	testkit.Eventually(b, time.Minute, "all forwarded", func() bool { return rowsLeft(b, pool) == 0 })
	b.StopTimer()
	self, pg := testkit.ProcessCPU(b)-self0, backendsCPU(backends)-pg0

	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	perSecond := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / b.Elapsed().Seconds() }
	b.ReportMetric(float64(b.N)/writing.Seconds(), "commits/s")
	b.ReportMetric(perEvent(self), "process_cpu_ms/event")
	b.ReportMetric(perEvent(pg), "postgres_cpu_ms/event")
	b.ReportMetric(perSecond(self), "process_cpu_ms/s")
	b.ReportMetric(perSecond(pg), "postgres_cpu_ms/s")
	lat := broker.latencies(b, committed)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "latency_p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "latency_p99_ms")
}

// commitAll commits n events from 8 goroutines, one a transaction, rate a
// second (0: as fast as they can), each commit announced to commits as a
// service's storage does, and returns when each one's COMMIT was sent.
func commitAll(b *testing.B, pool *pgxpool.Pool, commits *outbox.Commits, prefix string, n, rate int) map[string]time.Time {
	next := make(chan int)
	go func() { // the pace: event i is due i/rate seconds after the start
		defer close(next)
		start := time.Now()
		for i := range n {
			if rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			}
			next <- i
		}
	}()
	var mu sync.Mutex
	sent := make(map[string]time.Time, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				id := fmt.Sprintf("%s-%07d", prefix, i)
				tx, err := pool.Begin(context.Background())
				if err == nil {
					err = outbox.Publisher(tx).Publish("events.Load", message.NewMessage(id, []byte(`{}`)))
				}
				if err != nil {
					b.Error(err)
					continue
				}
				mu.Lock()
				sent[id] = time.Now()
				mu.Unlock()
				if err := tx.Commit(context.Background()); err != nil {
					b.Error(err)
				}
				commits.Committed()
			}
		})
	}
	wg.Wait()
	return sent
}

// stampedBroker confirms at once and notes when each event arrived.
type stampedBroker struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (s *stampedBroker) Publish(_ string, msgs ...*message.Message) error {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.at[m.UUID] = now
	}
	return nil
}

func (s *stampedBroker) Close() error { return nil }

// latencies are the sorted commit-to-publish times of the events committed.
func (s *stampedBroker) latencies(b *testing.B, committed map[string]time.Time) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := make([]time.Duration, 0, len(committed))
	for id, start := range committed {
		at, ok := s.at[id]
		if !ok {
			b.Fatalf("event %s not published", id)
		}
		lat = append(lat, at.Sub(start))
	}
	slices.Sort(lat)
	return lat
}
