package app

import (
	"errors"
	"net/netip"
	"sync"
)

// Errors of Streams.Open.
var (
	// ErrClientStreams: the client already has its maximum of streams open
	// on this replica (answered 429).
	ErrClientStreams = errors.New("too many event streams from this client")
	// ErrReplicaStreams: this replica serves its maximum of streams
	// (answered 503: another replica, or this one later, may have room).
	ErrReplicaStreams = errors.New("too many event streams on this replica")
)

// StreamLimits bound the event streams of one replica.
type StreamLimits struct {
	// Max is the streams open at once on the replica.
	Max int
	// MaxPerClient is the streams open at once per client address.
	MaxPerClient int
}

// Streams counts the event streams open on a replica, per client and in
// all, and refuses one past either bound. Its memory is bounded by Max: a
// client is remembered only while it has a stream open.
type Streams struct {
	limits    StreamLimits
	mu        sync.Mutex
	open      int
	perClient map[netip.Addr]int
}

// NewStreams returns an empty Streams; a bound of 0 or less panics (a
// programmer's mistake: the configuration is validated before).
func NewStreams(limits StreamLimits) *Streams {
	if limits.Max < 1 || limits.MaxPerClient < 1 {
		panic("live: stream limits must be positive")
	}
	return &Streams{limits: limits, perClient: map[netip.Addr]int{}}
}

// Open counts a new stream of client, or refuses it with ErrClientStreams
// or ErrReplicaStreams. Call release, once, when the stream ends.
func (s *Streams) Open(client netip.Addr) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perClient[client] >= s.limits.MaxPerClient {
		return nil, ErrClientStreams
	}
	if s.open >= s.limits.Max {
		return nil, ErrReplicaStreams
	}
	s.open++
	s.perClient[client]++
	var once sync.Once
	return func() { once.Do(func() { s.close(client) }) }, nil
}

// Count is the number of streams open.
func (s *Streams) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

func (s *Streams) close(client netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.perClient[client]--; s.perClient[client] <= 0 {
		delete(s.perClient, client)
	}
}
