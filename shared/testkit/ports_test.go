package testkit

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Ports handed out are reserved: 500 picks from the range below the
// ephemeral ports never repeat one, where picks at random would repeat one
// almost surely (500 of about 22,000 ports: 1 - e^-5.5).
func TestListenPort_NeverHandsOutAReservedPortAgain(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		ln, err := ListenPort()
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
}

// A reservation holds for reservationTTL, then another process may take
// the port over.
func TestReserve_RefusesAFreshReservationAndTakesOverAStaleOne(t *testing.T) {
	ln, err := ListenPort() // a port reserved by this process just now
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if reserve(port) {
		t.Fatalf("port %d reserved a moment ago was reserved again", port)
	}
	stale := time.Now().Add(-reservationTTL - time.Minute)
	if err := os.Chtimes(filepath.Join(portReservations, strconv.Itoa(port)), stale, stale); err != nil {
		t.Fatal(err)
	}
	if !reserve(port) {
		t.Fatalf("port %d's stale reservation was not taken over", port)
	}
	if reserve(port) {
		t.Fatalf("port %d taken over was reserved again", port)
	}
}
