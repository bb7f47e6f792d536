package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/outbox"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkOutboxIdle measures what a forwarder with nothing to do costs
// and how soon an event leaves after its commit (issue 13). Each op writes
// one event after a quiet spell of 30 to 60 ms and waits for the broker (a
// stub that confirms at once) to receive it: latency_p50_ms and
// latency_p99_ms run from just before the writer's COMMIT to the publish.
// Then the forwarder sits idle for 5 s: forwarder_cpu_ms/s is this process's CPU time per
// second, postgres_cpu_ms/s that of the PostgreSQL backends serving its
// database (/proc/<pid>/stat utime+stime). poll is Config.PollInterval.
// Reproduce:
//
//	go test ./shared/outbox -run '^$' -bench OutboxIdle -benchtime 20x -count 6
func BenchmarkOutboxIdle(b *testing.B) {
	for _, poll := range []time.Duration{50 * time.Millisecond, 2 * time.Second} {
		b.Run("poll="+poll.String(), func(b *testing.B) {
			pool := testPool(b)
			broker := &arrivals{ch: make(chan string, 1)}
			commits := outbox.NewCommits()
			runForwarder(b, outbox.Config{Pool: pool, Out: broker, Commits: commits, PollInterval: poll})
			latencies := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				// A quiet spell longer than the forwarder's read gap (25 ms),
				// random so that events do not fall in step with the polls.
				time.Sleep(30*time.Millisecond + time.Duration(rand.Int64N(int64(30*time.Millisecond))))
				latencies = append(latencies, commitToPublish(b, pool, commits, broker, fmt.Sprintf("idle-%06d", i)))
			}
			b.StopTimer()
			slices.Sort(latencies)
			ms := func(q float64) float64 {
				return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.5), "latency_p50_ms")
			b.ReportMetric(ms(0.99), "latency_p99_ms")

			const window = 5 * time.Second
			backends := backendPIDs(b, pool)
			self0, pg0 := testkit.ProcessCPU(b), backendsCPU(backends)
			time.Sleep(window)
			self1, pg1 := testkit.ProcessCPU(b), backendsCPU(backends)
			perSecond := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / window.Seconds() }
			b.ReportMetric(perSecond(self1-self0), "forwarder_cpu_ms/s")
			b.ReportMetric(perSecond(pg1-pg0), "postgres_cpu_ms/s")
		})
	}
}

// arrivals is a broker that confirms at once and hands each event's UUID to ch.
type arrivals struct{ ch chan string }

func (a *arrivals) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		a.ch <- m.UUID
	}
	return nil
}

func (a *arrivals) Close() error { return nil }

// commitToPublish writes one event, announces its commit as a service's
// storage does, and returns the time from just before its COMMIT to its
// publish.
func commitToPublish(b *testing.B, pool *pgxpool.Pool, commits *outbox.Commits, broker *arrivals, id string) time.Duration {
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	testkit.Must(b, err)
	testkit.Must(b, outbox.Publisher(tx).Publish("events.Idle", message.NewMessage(id, []byte(`{}`))))
	start := time.Now()
	testkit.Must(b, tx.Commit(ctx))
	commits.Committed()
	select {
	case got := <-broker.ch:
		if got != id {
			b.Fatalf("published %s, want %s", got, id)
		}
	case <-time.After(time.Minute):
		b.Fatalf("event %s not published within a minute", id)
	}
	return time.Since(start)
}

// backendPIDs are the PostgreSQL backends serving pool's database (the
// pool's connections, the forwarder's included).
func backendPIDs(b *testing.B, pool *pgxpool.Pool) []int {
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	testkit.Must(b, err)
	var pids []int
	for rows.Next() {
		var pid int
		testkit.Must(b, rows.Scan(&pid))
		pids = append(pids, pid)
	}
	testkit.Must(b, rows.Err())
	return pids
}

// backendsCPU sums the user and system time of pids; a process gone counts 0.
func backendsCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if used, ok := testkit.PIDCPU(pid); ok {
			sum += used
		}
	}
	return sum
}
