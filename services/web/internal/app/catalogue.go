// The catalogue cache: the web tier's view of the hotels and room types the
// booking service sells, cached for a short time.
//
// The web tier validates every booking against it, so it must keep working
// while the booking service is down (bookings are queued, not lost): a cache
// whose refresh fails keeps serving what it has, however old. Only a web tier
// that never fetched the catalogue has to refuse (ErrCatalogueUnavailable).

package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// ErrCatalogueUnavailable means no catalogue was ever fetched and the source cannot be reached.
var ErrCatalogueUnavailable = errors.New("catalogue unavailable")

// CatalogueSource fetches the current catalogue (the booking service's HTTP client).
type CatalogueSource interface {
	Catalogue(ctx context.Context) (*domain.Catalogue, error)
}

// CatalogueConfig configures a CatalogueCache.
type CatalogueConfig struct {
	Source CatalogueSource
	// TTL is how long a fetched catalogue is served without asking again.
	TTL time.Duration
	// RetryInterval is how long a stale catalogue is served without asking
	// again after a failed refresh, so that a booking service that is down
	// costs one failed request per interval, not one per customer request.
	RetryInterval time.Duration
	// FetchTimeout bounds one fetch.
	FetchTimeout time.Duration
	Logger       *slog.Logger
	// Now is the clock (tests move it).
	Now func() time.Time
}

// CatalogueCache serves the catalogue from memory and refreshes it from its source.
type CatalogueCache struct {
	cfg   CatalogueConfig
	group singleflight.Group

	mu        sync.Mutex
	current   *domain.Catalogue
	nextFetch time.Time // do not ask the source before this
}

// NewCatalogueCache builds a CatalogueCache; it fetches on first use.
func NewCatalogueCache(cfg CatalogueConfig) (*CatalogueCache, error) {
	if cfg.Source == nil {
		panic("catalogue: nil Source")
	}
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("catalogue TTL %s must be positive", cfg.TTL)
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = min(cfg.TTL, 5*time.Second)
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CatalogueCache{cfg: cfg}, nil
}

// Get returns the catalogue: the cached one while it is fresh, else a newly
// fetched one, else (the source failing) the stale one. ErrCatalogueUnavailable only
// when there is none at all. The returned catalogue must not be modified.
func (c *CatalogueCache) Get(ctx context.Context) (*domain.Catalogue, error) {
	c.mu.Lock()
	current, due := c.current, !c.cfg.Now().Before(c.nextFetch)
	c.mu.Unlock()
	if current != nil && !due {
		return current, nil
	}
	// One fetch at a time, whoever asks; it runs on its own deadline so that
	// a caller going away does not fail the others waiting on it.
	ch := c.group.DoChan("catalogue", func() (any, error) {
		return c.refresh(context.WithoutCancel(ctx))
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*domain.Catalogue), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *CatalogueCache) refresh(ctx context.Context) (*domain.Catalogue, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.FetchTimeout)
	defer cancel()
	fetched, err := c.cfg.Source.Catalogue(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if err != nil {
		c.nextFetch = now.Add(c.cfg.RetryInterval)
		if c.current != nil {
			c.cfg.Logger.WarnContext(ctx, "catalogue refresh failed; serving the cached one", "err", err)
			return c.current, nil
		}
		c.cfg.Logger.ErrorContext(ctx, "catalogue fetch failed and nothing is cached", "err", err)
		return nil, fmt.Errorf("%w: %w", ErrCatalogueUnavailable, err)
	}
	c.current = fetched
	c.nextFetch = now.Add(c.cfg.TTL)
	return fetched, nil
}
