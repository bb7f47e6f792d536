package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/domain"
)

type fakeSource struct {
	calls atomic.Int32
	mu    sync.Mutex
	cat   *domain.Catalogue
	err   error
	gate  chan struct{} // if set, each fetch waits for it
}

func (s *fakeSource) Catalogue(ctx context.Context) (*domain.Catalogue, error) {
	s.calls.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cat, s.err
}

func (s *fakeSource) set(cat *domain.Catalogue, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cat, s.err = cat, err
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func named(name string) *domain.Catalogue {
	return &domain.Catalogue{Hotels: []domain.Hotel{{ID: name, RoomTypes: []domain.RoomType{{ID: "double", Capacity: 2}}}}}
}

func newCache(t *testing.T, src CatalogueSource, clk *clock) *CatalogueCache {
	t.Helper()
	c, err := NewCatalogueCache(CatalogueConfig{Source: src, TTL: 30 * time.Second, RetryInterval: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hotelID(t *testing.T, c *CatalogueCache) string {
	t.Helper()
	cat, err := c.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cat.Hotels[0].ID
}

func TestCache_ServesFromMemoryUntilTheTTLPasses(t *testing.T) {
	t.Parallel()
	src := &fakeSource{cat: named("v1")}
	clk := &clock{now: time.Unix(1000, 0)}
	c := newCache(t, src, clk)
	for range 2 { // the second read within the TTL comes from memory
		if hotelID(t, c) != "v1" {
			t.Fatal("wrong catalogue")
		}
	}
	if src.calls.Load() != 1 {
		t.Fatalf("%d fetches within the TTL, want 1", src.calls.Load())
	}
	src.set(named("v2"), nil)
	clk.advance(31 * time.Second)
	if got := hotelID(t, c); got != "v2" {
		t.Fatalf("after the TTL got %s, want v2", got)
	}
}

func TestCache_KeepsServingTheStaleCatalogueWhileTheSourceIsDown(t *testing.T) {
	t.Parallel()
	src := &fakeSource{cat: named("v1")}
	clk := &clock{now: time.Unix(1000, 0)}
	c := newCache(t, src, clk)
	hotelID(t, c)
	src.set(nil, errors.New("connection refused"))
	clk.advance(time.Hour)
	if got := hotelID(t, c); got != "v1" {
		t.Fatalf("got %s, want the stale v1", got)
	}
	calls := src.calls.Load()
	hotelID(t, c)
	if src.calls.Load() != calls {
		t.Fatal("source asked again within the retry interval")
	}
	clk.advance(6 * time.Second)
	src.set(named("v2"), nil)
	if got := hotelID(t, c); got != "v2" {
		t.Fatalf("after the retry interval got %s, want v2", got)
	}
}

func TestCache_WithNothingCachedAndTheSourceDownIsUnavailable(t *testing.T) {
	t.Parallel()
	src := &fakeSource{err: errors.New("connection refused")}
	clk := &clock{now: time.Unix(1000, 0)}
	c := newCache(t, src, clk)
	if _, err := c.Get(context.Background()); !errors.Is(err, ErrCatalogueUnavailable) {
		t.Fatalf("err %v, want ErrCatalogueUnavailable", err)
	}
	// Nothing to serve instead: the next request asks again at once.
	src.set(named("v1"), nil)
	if got := hotelID(t, c); got != "v1" {
		t.Fatal(got)
	}
}

func TestCache_ConcurrentMissesFetchOnce(t *testing.T) {
	t.Parallel()
	src := &fakeSource{cat: named("v1"), gate: make(chan struct{})}
	clk := &clock{now: time.Unix(1000, 0)}
	c := newCache(t, src, clk)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := c.Get(context.Background())
			errs <- err
		})
	}
	testkit.Eventually(t, 5*time.Second, "the first fetch started", func() bool { return src.calls.Load() > 0 })
	close(src.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestCatalogue_FindsHotelsAndRoomTypes(t *testing.T) {
	t.Parallel()
	cat := named("h1")
	h, ok := cat.Hotel("h1")
	if !ok {
		t.Fatal("h1 not found")
	}
	if _, ok := cat.Hotel("h2"); ok {
		t.Fatal("h2 found")
	}
	if rt, ok := h.RoomType("double"); !ok || rt.Capacity != 2 {
		t.Fatal("double not found")
	}
	if _, ok := h.RoomType("suite"); ok {
		t.Fatal("suite found")
	}
}
