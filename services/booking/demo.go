package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// The demo and chaos knobs (BOOKING_TX_DELAY, STAYBOOK_FAILPOINT) are
// wrapped around the ports here, so that neither the use cases nor the
// storage know about them.

// slowBookingTransactions adds pg_sleep(delay) to the batch that begins
// each booking transaction, after its first statements: the transaction
// holds its pool connection that much longer, which makes the database the
// bottleneck (BOOKING_TX_DELAY).
type slowBookingTransactions struct {
	pool  *pgxpool.Pool
	delay time.Duration
}

func (s slowBookingTransactions) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	b.Queue(`SELECT pg_sleep($1)`, s.delay.Seconds())
	return s.pool.SendBatch(ctx, b)
}

// afterCommit runs fail once a booking was created, its transaction
// committed, before the use case returns (so before the outbox forwarder
// is sure to have published its events).
type afterCommit struct {
	app.Repository
	fail func()
}

func (r afterCommit) CreateBooking(ctx context.Context, cmd contracts.BookRoom, d domain.Decision, announce app.Announce) (domain.Booking, bool, error) {
	b, created, err := r.Repository.CreateBooking(ctx, cmd, d, announce)
	if err == nil && created {
		r.fail()
	}
	return b, created, err
}

// withFailpoint wraps repo in the failpoint named by STAYBOOK_FAILPOINT, if any.
func withFailpoint(repo app.Repository, failpoint string, log *slog.Logger) app.Repository {
	switch failpoint {
	case "booking.after_commit":
		return afterCommit{Repository: repo, fail: func() {
			log.Error("failpoint booking.after_commit: exiting after commit, before forwarding")
			os.Exit(137)
		}}
	default:
		return repo
	}
}
