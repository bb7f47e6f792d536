// Package catalogue is the web tier's view of the hotels and room types the
// booking service sells, cached for a short time.
//
// The web tier validates every booking against it, so it must keep working
// while the booking service is down (bookings are queued, not lost): a cache
// whose refresh fails keeps serving what it has, however old. Only a web tier
// that never fetched the catalogue has to refuse (ErrUnavailable).
package catalogue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Catalogue is every hotel and its room types (GET /internal/catalogue).
type Catalogue struct {
	Hotels []Hotel `json:"hotels"`
}

// Hotel is one hotel.
type Hotel struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	City      string     `json:"city"`
	Address   string     `json:"address"`
	Stars     int        `json:"stars"`
	RoomTypes []RoomType `json:"room_types"`
}

// RoomType is one kind of room of a hotel; prices are in minor units.
type RoomType struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Capacity      int    `json:"capacity"`
	PricePerNight int64  `json:"price_per_night"`
	Currency      string `json:"currency"`
	TotalRooms    int    `json:"total_rooms"`
}

// Hotel returns the hotel with the given ID.
func (c *Catalogue) Hotel(id string) (*Hotel, bool) {
	for i := range c.Hotels {
		if c.Hotels[i].ID == id {
			return &c.Hotels[i], true
		}
	}
	return nil, false
}

// RoomType returns the hotel's room type with the given ID.
func (h *Hotel) RoomType(id string) (*RoomType, bool) {
	for i := range h.RoomTypes {
		if h.RoomTypes[i].ID == id {
			return &h.RoomTypes[i], true
		}
	}
	return nil, false
}

// ErrUnavailable means no catalogue was ever fetched and the source cannot be reached.
var ErrUnavailable = errors.New("catalogue unavailable")

// Source fetches the current catalogue (the booking service's HTTP client).
type Source interface {
	Catalogue(ctx context.Context) (*Catalogue, error)
}

// Config configures a Cache.
type Config struct {
	Source Source
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

// Cache serves the catalogue from memory and refreshes it from its source.
type Cache struct {
	cfg   Config
	group singleflight.Group

	mu        sync.Mutex
	current   *Catalogue
	nextFetch time.Time // do not ask the source before this
}

// New builds a Cache; it fetches on first use.
func New(cfg Config) (*Cache, error) {
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
	return &Cache{cfg: cfg}, nil
}

// Get returns the catalogue: the cached one while it is fresh, else a newly
// fetched one, else (the source failing) the stale one. ErrUnavailable only
// when there is none at all. The returned catalogue must not be modified.
func (c *Cache) Get(ctx context.Context) (*Catalogue, error) {
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
		return res.Val.(*Catalogue), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cache) refresh(ctx context.Context) (*Catalogue, error) {
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
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.current = fetched
	c.nextFetch = now.Add(c.cfg.TTL)
	return fetched, nil
}
