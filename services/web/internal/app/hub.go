// The live status hub: it pushes booking status changes to the browsers
// watching them. Every web replica consumes the notifications fanout through a queue of its
// own (so each replica sees every BookingStatusChanged) and the relay handler
// (ports) hands each event to the Hub, which passes it to the Server-Sent Events
// streams open on this replica for that booking.

package app

import (
	"sync"

	"github.com/staybook/staybook/shared/contracts"
)

// Hub fans booking status changes out to subscriptions by booking ID. It never
// blocks the relay: a subscription keeps only the newest event it has not
// read yet (every event carries the whole state, so an older one that a slow
// reader never saw is not missed).
type Hub struct {
	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

// NewHub builds an empty Hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[string]map[*Subscription]struct{})}
}

// Subscription receives the status changes of one booking.
type Subscription struct {
	hub       *Hub
	bookingID string
	ready     chan struct{} // holds a token while an unread event waits
	done      chan struct{} // closed when the hub closes (server shutdown)

	mu      sync.Mutex
	pending *contracts.BookingStatusChanged
}

// Subscribe starts receiving the changes of bookingID. Subscribe before
// reading the booking's current state, so that no change falls in between.
func (h *Hub) Subscribe(bookingID string) *Subscription {
	s := &Subscription{hub: h, bookingID: bookingID, ready: make(chan struct{}, 1), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.done)
		return s
	}
	if h.subs[bookingID] == nil {
		h.subs[bookingID] = make(map[*Subscription]struct{})
	}
	h.subs[bookingID][s] = struct{}{}
	return s
}

// Publish hands ev to every subscription of its booking and returns how many there were.
func (h *Hub) Publish(ev contracts.BookingStatusChanged) int {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs[ev.BookingID]))
	for s := range h.subs[ev.BookingID] {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.offer(ev)
	}
	return len(subs)
}

// Subscribers is the number of open subscriptions (a metric).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}

// Close ends every subscription (their Done channels close) and refuses new
// ones: the HTTP server is shutting down and the streams must end.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, m := range h.subs {
		for s := range m {
			close(s.done)
		}
	}
	h.subs = map[string]map[*Subscription]struct{}{}
}

// Ready has a value when an event waits to be taken with Take.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed when the hub closes.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Take returns the newest unread event, if any.
func (s *Subscription) Take() (contracts.BookingStatusChanged, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		return contracts.BookingStatusChanged{}, false
	}
	ev := *s.pending
	s.pending = nil
	return ev, true
}

// Close stops the subscription.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.subs[s.bookingID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.bookingID)
		}
	}
}

func (s *Subscription) offer(ev contracts.BookingStatusChanged) {
	s.mu.Lock()
	if s.pending != nil && s.pending.Version >= ev.Version {
		s.mu.Unlock()
		return // older than what already waits (redelivered or out of order)
	}
	s.pending = &ev
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default: // a token already waits
	}
}
