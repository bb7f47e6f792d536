package app

import (
	"errors"
	"net/netip"
	"testing"
)

func TestStreams_CapPerClientThenPerReplica(t *testing.T) {
	t.Parallel()
	s := NewStreams(StreamLimits{Max: 3, MaxPerClient: 2})
	a, b, c := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"), netip.MustParseAddr("203.0.113.3")
	relA1, err := s.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(a); !errors.Is(err, ErrClientStreams) {
		t.Fatalf("third stream of a client: %v, want ErrClientStreams", err)
	}
	if _, err := s.Open(b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(c); !errors.Is(err, ErrReplicaStreams) {
		t.Fatalf("fourth stream of the replica: %v, want ErrReplicaStreams", err)
	}
	relA1()
	relA1() // a second release changes nothing
	if s.Count() != 2 {
		t.Fatalf("%d open after a release, want 2", s.Count())
	}
	if _, err := s.Open(c); err != nil {
		t.Fatalf("room freed by a release: %v", err)
	}
}

func TestStreams_ForgetAClientWithNoStreamOpen(t *testing.T) {
	t.Parallel()
	s := NewStreams(StreamLimits{Max: 10, MaxPerClient: 1})
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		release, err := s.Open(a)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if len(s.perClient) != 0 || s.Count() != 0 {
		t.Fatalf("%d clients and %d streams remembered after every stream closed", len(s.perClient), s.Count())
	}
}
