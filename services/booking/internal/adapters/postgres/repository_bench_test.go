package postgres_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/staybook/staybook/shared/contracts"
	sharedpg "github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
)

// BenchmarkCreateBooking is the booking transaction on its own: the
// Idempotency-Key check, the booking row, a room on each night of the stay
// (a savepoint), the booking read back and its events (BookingConfirmed and
// the status change) in the outbox, committed; with 1 and 8 transactions
// at once (BOOKING_WORKERS is 8). Every booking is confirmed: the stays
// spread over the large hotels and many dates. No broker, no consumer. The
// metrics: bookings/s, and cpu-µs/op, this process's CPU per booking
// (PostgreSQL's is not in it). Reproduce:
//
//	go test ./services/booking/internal/adapters/postgres -run '^$' -bench CreateBooking -benchtime 2000x -count 3
func BenchmarkCreateBooking(b *testing.B) {
	ctx := testkit.Context(b)
	pool, err := sharedpg.Open(ctx, sharedpg.Config{URL: testkit.Database(b), MaxConns: 16, Migrations: postgres.Migrations(),
		Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(b, err)
	defer pool.Close()
	repo := postgres.NewRepository(pool)
	catalogue, err := repo.Catalogue(ctx)
	testkit.Must(b, err)
	hotels := map[string]domain.Hotel{}
	for _, h := range catalogue {
		hotels[h.ID] = h
	}
	type pair struct{ hotel, room string }
	var pairs []pair
	for _, h := range []string{"loadtest-grand-central", "loadtest-riverside-resort", "loadtest-harbour-plaza"} {
		for _, rt := range hotels[h].RoomTypes {
			pairs = append(pairs, pair{h, rt.ID})
		}
	}
	if len(pairs) == 0 {
		b.Fatal("the seed catalogue has no loadtest hotels")
	}
	firstNight := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	var made atomic.Int64 // bookings across runs: each its own nights

	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			now := time.Now().UTC()
			cmds := make([]contracts.BookRoom, b.N)
			decisions := make([]domain.Decision, b.N)
			for i := range cmds {
				n := made.Add(1)
				p := pairs[int(n)%len(pairs)]
				in := firstNight.AddDate(0, 0, int(n/int64(len(pairs)))%700)
				key := sha256.Sum256([]byte(uuid.NewString()))
				cmds[i] = contracts.BookRoom{
					BookingID: uuid.NewString(), HotelID: p.hotel, RoomType: p.room,
					CheckIn: in.Format(time.DateOnly), CheckOut: in.AddDate(0, 0, 2).Format(time.DateOnly), Guests: 1,
					GuestName: "Ada Lovelace", GuestEmail: "ada@example.com", RequestedAt: now,
					IdempotencyKeyHash: hex.EncodeToString(key[:]),
				}
				h, ok := hotels[p.hotel]
				decisions[i] = domain.Decide(cmds[i], h, ok, now, 0)
				if decisions[i].Reject != "" {
					b.Fatalf("command %d rejected before the database: %s", i, decisions[i].Reject)
				}
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			before := processCPU()
			b.ResetTimer()
			for range workers {
				wg.Go(func() {
					for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
						bk, created, err := repo.CreateBooking(ctx, cmds[i], decisions[i], confirmed(decisions[i]))
						if err != nil || !created || bk.Status != contracts.StatusConfirmed {
							b.Errorf("booking %d: created %v, status %s %s, err %v", i, created, bk.Status, bk.Reason, err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bookings/s")
			b.ReportMetric(float64((processCPU()-before).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// confirmed announces a booking as the use case does a confirmed one:
// BookingConfirmed, then BookingStatusChanged.
func confirmed(d domain.Decision) app.Announce {
	return func(b domain.Booking) []contracts.Contract {
		return []contracts.Contract{b.Confirmed(d), b.StatusChanged(time.Now().UTC())}
	}
}

// processCPU is this process's CPU time, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
