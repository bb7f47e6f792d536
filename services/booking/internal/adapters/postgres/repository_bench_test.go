package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/shared/contracts"
	sharedpg "github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
)

// BenchmarkCreateBooking is the booking transaction on its own: the
// Idempotency-Key check, the booking row, a room on each night of the stay,
// and its events (BookingConfirmed and the status change) in the outbox,
// committed; with 1 and 8 transactions at once (BOOKING_WORKERS is 8).
// Every booking is confirmed: the stays spread over the large hotels and
// many dates. No broker, no consumer. The metrics: bookings/s; cpu-µs/op,
// this process's CPU per booking; pg-cpu-µs/op, that of the PostgreSQL
// backends serving the benchmark's database (when they run on this host).
// Reproduce:
//
//	go test ./services/booking/internal/adapters/postgres -run '^$' -bench CreateBooking -benchtime 2000x -count 6
func BenchmarkCreateBooking(b *testing.B) {
	bench := newBench(b)
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cmds, decisions := bench.commands(b, b.N)
			bench.run(b, workers, "bookings/s", func(i int) error {
				bk, created, err := bench.repo.CreateBooking(bench.ctx, cmds[i], decisions[i], confirmed(decisions[i]))
				if err == nil && (!created || bk.Status != contracts.StatusConfirmed) {
					err = fmt.Errorf("created %v, status %s %s", created, bk.Status, bk.Reason)
				}
				return err
			})
		})
	}
}

// BenchmarkUpdateBooking is a task recorded, as the booking service does on
// VoucherCreated, ConfirmationEmailSent and CustomerNotified (three per
// booking): the booking locked, its task done and version bumped, and
// BookingStatusChanged in the outbox, committed; 1 and 8 at once. The
// bookings are made before the clock starts; each gets its three tasks
// recorded in turn. Metrics as BenchmarkCreateBooking's, per update.
// Reproduce:
//
//	go test ./services/booking/internal/adapters/postgres -run '^$' -bench UpdateBooking -benchtime 3000x -count 6
func BenchmarkUpdateBooking(b *testing.B) {
	bench := newBench(b)
	tasks := []string{contracts.TaskVoucher, contracts.TaskEmail, contracts.TaskNotification}
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cmds, decisions := bench.commands(b, (b.N+len(tasks)-1)/len(tasks))
			for i := range cmds {
				if _, _, err := bench.repo.CreateBooking(bench.ctx, cmds[i], decisions[i], confirmed(decisions[i])); err != nil {
					b.Fatal(err)
				}
			}
			bench.run(b, workers, "updates/s", func(i int) error {
				task := tasks[i/len(cmds)] // every booking's voucher, then every email, then every notification
				_, changed, err := bench.repo.UpdateBooking(bench.ctx, cmds[i%len(cmds)].BookingID, func(bk *domain.Booking) (bool, []contracts.Contract, error) {
					changed, err := bk.SetTask(task, contracts.TaskDone)
					bk.Version++
					return changed, []contracts.Contract{bk.StatusChanged(time.Now().UTC())}, err
				})
				if err == nil && !changed {
					err = fmt.Errorf("task %s of booking %d unchanged", task, i%len(cmds))
				}
				return err
			})
		})
	}
}

// bench is a Repository on a database of its own, with the seed catalogue.
type bench struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	repo   *postgres.Repository
	hotels map[string]domain.Hotel
	pairs  []struct{ hotel, room string } // the large hotels' room types
	made   atomic.Int64                   // bookings across runs: each its own nights
}

func newBench(b *testing.B) *bench {
	ctx := testkit.Context(b)
	pool, err := sharedpg.Open(ctx, sharedpg.Config{URL: testkit.Database(b), MaxConns: 16, Migrations: postgres.Migrations(),
		Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(b, err)
	b.Cleanup(pool.Close)
	bench := &bench{ctx: ctx, pool: pool, repo: postgres.NewRepository(pool), hotels: map[string]domain.Hotel{}}
	catalogue, err := bench.repo.Catalogue(ctx)
	testkit.Must(b, err)
	for _, h := range catalogue {
		bench.hotels[h.ID] = h
	}
	for _, h := range []string{"loadtest-grand-central", "loadtest-riverside-resort", "loadtest-harbour-plaza"} {
		for _, rt := range bench.hotels[h].RoomTypes {
			bench.pairs = append(bench.pairs, struct{ hotel, room string }{h, rt.ID})
		}
	}
	if len(bench.pairs) == 0 {
		b.Fatal("the seed catalogue has no loadtest hotels")
	}
	return bench
}

// commands returns n BookRoom commands, with an Idempotency-Key each, and
// their decisions, every one a confirmation.
func (bench *bench) commands(b *testing.B, n int) ([]contracts.BookRoom, []domain.Decision) {
	firstNight := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	now := time.Now().UTC()
	cmds := make([]contracts.BookRoom, n)
	decisions := make([]domain.Decision, n)
	for i := range cmds {
		made := bench.made.Add(1)
		p := bench.pairs[int(made)%len(bench.pairs)]
		in := firstNight.AddDate(0, 0, int(made/int64(len(bench.pairs)))%700)
		key := sha256.Sum256([]byte(uuid.NewString()))
		cmds[i] = contracts.BookRoom{
			BookingID: uuid.NewString(), HotelID: p.hotel, RoomType: p.room,
			CheckIn: in.Format(time.DateOnly), CheckOut: in.AddDate(0, 0, 2).Format(time.DateOnly), Guests: 1,
			GuestName: "Ada Lovelace", GuestEmail: "ada@example.com", RequestedAt: now,
			IdempotencyKeyHash: hex.EncodeToString(key[:]),
		}
		h, ok := bench.hotels[p.hotel]
		decisions[i] = domain.Decide(cmds[i], h, ok, now, 0)
		if decisions[i].Reject != "" {
			b.Fatalf("command %d rejected before the database: %s", i, decisions[i].Reject)
		}
	}
	return cmds, decisions
}

// run times op(0) to op(b.N-1) on workers goroutines and reports op/s
// (named rate), this process's CPU per op and PostgreSQL's.
func (bench *bench) run(b *testing.B, workers int, rate string, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	pgBefore, pgOK := bench.backendsCPU()
	before := testkit.ProcessCPU(b)
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				if err := op(int(i)); err != nil {
					b.Errorf("op %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), rate)
	testkit.ReportCPUPerOp(b, before)
	if pgAfter, ok := bench.backendsCPU(); ok && pgOK {
		var used time.Duration
		for pid, cpu := range pgAfter {
			used += cpu - pgBefore[pid] // a backend started during the run: all of its CPU
		}
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "pg-cpu-µs/op")
	}
}

// backendsCPU is the CPU time of each PostgreSQL backend connected to the
// benchmark's database, by pid, from /proc/<pid>/stat; false when they are
// not on this host.
func (bench *bench) backendsCPU() (map[int]time.Duration, bool) {
	rows, err := bench.pool.Query(bench.ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, false
	}
	cpu := map[int]time.Duration{}
	for _, pid := range pids {
		used, ok := testkit.PIDCPU(int(pid))
		if !ok {
			return nil, false
		}
		cpu[int(pid)] = used
	}
	return cpu, true
}

// confirmed announces a booking as the use case does a confirmed one:
// BookingConfirmed, then BookingStatusChanged.
func confirmed(d domain.Decision) app.Announce {
	return func(b domain.Booking) []contracts.Contract {
		return []contracts.Contract{b.Confirmed(d), b.StatusChanged(time.Now().UTC())}
	}
}
