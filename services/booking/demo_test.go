package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/app/apptest"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/testkit"
)

func TestAfterCommit_FailsOnlyOnceABookingIsCreated(t *testing.T) {
	hotel := domain.Hotel{ID: "lisbon", RoomTypes: []domain.RoomType{{ID: "double", Capacity: 2, PricePerNight: 100, Currency: "EUR", TotalRooms: 5}}}
	repo := apptest.New(hotel)
	fails := 0
	s := app.New(afterCommit{Repository: repo, fail: func() { fails++ }}, app.Config{})
	cmd := contracts.BookRoom{BookingID: "b1", HotelID: "lisbon", RoomType: "double", CheckIn: "2031-03-10", CheckOut: "2031-03-11", Guests: 1}
	if _, created, err := s.BookRoom(context.Background(), cmd); err != nil || !created || fails != 1 {
		t.Fatalf("created %v, err %v, %d failpoint runs, want 1", created, err, fails)
	}
	if len(repo.Outbox()) != 2 {
		t.Fatalf("%d events stored before the failpoint, want 2", len(repo.Outbox()))
	}
	s.BookRoom(context.Background(), cmd) // a duplicate commits nothing
	repo.CreateErr = errors.New("serialization failure")
	cmd.BookingID = "b2"
	s.BookRoom(context.Background(), cmd)
	if fails != 1 {
		t.Fatalf("%d failpoint runs after a duplicate and a failure, want 1", fails)
	}
}

func TestWithFailpoint_WrapsOnlyForItsName(t *testing.T) {
	repo := apptest.New()
	if got := withFailpoint(repo, "", slog.New(slog.DiscardHandler)); got != app.Repository(repo) {
		t.Fatalf("no failpoint: %T", got)
	}
	if _, ok := withFailpoint(repo, "booking.after_commit", slog.New(slog.DiscardHandler)).(afterCommit); !ok {
		t.Fatal("booking.after_commit did not wrap the repository")
	}
}

func TestSlowBookingTransactions_SleepInsideTheTransaction(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testkit.Database(t))
	testkit.Must(t, err)
	defer pool.Close()
	const delay = 200 * time.Millisecond
	first := &pgx.Batch{}
	first.BeginTx(pgx.TxOptions{})
	br := slowBookingTransactions{pool: pool, delay: delay}.SendBatch(ctx, first)
	tx := br.Tx()
	defer tx.Rollback(ctx)
	testkit.Must(t, br.Close())
	// now() is the transaction's start: the sleep happened inside it,
	// holding its connection.
	var inside float64
	testkit.Must(t, tx.QueryRow(ctx, `SELECT extract(epoch FROM clock_timestamp() - now())`).Scan(&inside))
	if inside < delay.Seconds() {
		t.Fatalf("the transaction is %.3f s old once its first batch is back, want at least %s", inside, delay)
	}
	if held := pool.Stat().AcquiredConns(); held != 1 {
		t.Fatalf("%d connections held, want the transaction's", held)
	}
}
