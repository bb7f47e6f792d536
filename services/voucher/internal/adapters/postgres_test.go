package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/staybook/staybook/services/voucher/internal/adapters"
	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"
)

func openStore(t *testing.T) (*adapters.PostgresStore, *pgxpool.Pool) {
	t.Helper()
	pool, err := postgres.Open(testkit.Context(t), postgres.Config{
		URL: testkit.Database(t), Migrations: adapters.Migrations(), Logger: slog.New(slog.DiscardHandler),
	})
	testkit.Must(t, err)
	t.Cleanup(pool.Close)
	return adapters.NewPostgresStore(pool), pool
}

const bookingID = "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01"

func TestPostgresStore_SameBookingTwiceKeepsTheFirstVoucher(t *testing.T) {
	t.Parallel()
	store, _ := openStore(t)
	ctx := context.Background()
	first := time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC)

	rec, created, err := store.Save(ctx, domain.Record{BookingID: bookingID, PDF: []byte("%PDF-first"), CreatedAt: first})
	testkit.Must(t, err)
	if !created || rec.SizeBytes != 10 || !rec.CreatedAt.Equal(first) || len(rec.SHA256) != 32 {
		t.Fatalf("first save: %+v created=%v", rec, created)
	}
	again, created, err := store.Save(ctx, domain.Record{BookingID: bookingID, PDF: []byte("%PDF-second!"), CreatedAt: first.Add(time.Hour)})
	testkit.Must(t, err)
	if created || again.SizeBytes != 10 || !again.CreatedAt.Equal(first) || !bytes.Equal(again.SHA256, rec.SHA256) {
		t.Fatalf("second save: %+v created=%v; want the first voucher's metadata", again, created)
	}
	got, err := store.Get(ctx, bookingID)
	testkit.Must(t, err)
	if string(got.PDF) != "%PDF-first" {
		t.Fatalf("stored PDF %q", got.PDF)
	}
	if n, err := store.Count(ctx); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

func TestPostgresStore_ConcurrentSavesStoreOneVoucher(t *testing.T) {
	t.Parallel()
	store, _ := openStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdCount := 0
	for i := range 8 {
		wg.Go(func() {
			_, created, err := store.Save(ctx, domain.Record{BookingID: bookingID, PDF: []byte{byte(i)}, CreatedAt: time.Now()})
			if err != nil {
				t.Error(err)
			}
			if created {
				mu.Lock()
				createdCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n, _ := store.Count(ctx); n != 1 || createdCount != 1 {
		t.Fatalf("%d rows, %d saves reported created; want 1 and 1", n, createdCount)
	}
}

func TestPostgresStore_MissingVoucherIsNotFound(t *testing.T) {
	t.Parallel()
	store, _ := openStore(t)
	if _, err := store.Get(context.Background(), bookingID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	if _, err := store.Find(context.Background(), bookingID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Find: %v", err)
	}
}
