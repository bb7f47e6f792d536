package adapters

import (
	"context"
	"sync"
)

// RecentDeliveries is a bounded in-memory set of deliveries this replica made
// (app.SentLog). It holds the last Capacity keys; older ones are forgotten.
//
// It only narrows duplicates: a redelivery to another replica, or after a
// restart, or of a key already evicted, is sent again. That is accepted for
// a push, which is informational and non-critical; a durable record would
// need a database this service deliberately does not have.
type RecentDeliveries struct {
	mu       sync.Mutex
	sent     map[string]struct{}
	ring     []string // insertion order, for eviction
	next     int
	inflight map[string]chan struct{}
}

// NewRecentDeliveries returns a set holding at most capacity keys (at least 1).
func NewRecentDeliveries(capacity int) *RecentDeliveries {
	capacity = max(capacity, 1)
	return &RecentDeliveries{
		sent:     make(map[string]struct{}, capacity),
		ring:     make([]string, 0, capacity),
		inflight: make(map[string]chan struct{}),
	}
}

// Once runs send unless key was sent before; see app.SentLog.
func (r *RecentDeliveries) Once(ctx context.Context, key string, send func(context.Context) error) (skipped bool, err error) {
	for {
		r.mu.Lock()
		if _, ok := r.sent[key]; ok {
			r.mu.Unlock()
			return true, nil
		}
		wait, busy := r.inflight[key]
		if !busy {
			break // still holding the lock
		}
		r.mu.Unlock()
		// Another worker is sending the same thing (a duplicate message
		// handled concurrently): wait for its outcome rather than send twice.
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	done := make(chan struct{})
	r.inflight[key] = done
	r.mu.Unlock()

	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.inflight, key)
		if err == nil {
			r.remember(key)
		}
		close(done)
	}()
	err = send(ctx)
	return false, err
}

// Len is how many keys are remembered.
func (r *RecentDeliveries) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func (r *RecentDeliveries) remember(key string) {
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, key)
	} else {
		delete(r.sent, r.ring[r.next])
		r.ring[r.next] = key
		r.next = (r.next + 1) % len(r.ring)
	}
	r.sent[key] = struct{}{}
}
