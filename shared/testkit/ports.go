package testkit

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ListenPort returns a 127.0.0.1 listener on a port below the kernel's
// ephemeral range, reserved for this process (reserve). A test picks a
// port, closes the listener, and starts a process that binds it a moment
// later; a port from the ephemeral range (what "127.0.0.1:0" gives) can be
// taken meanwhile by any outgoing connection on the machine (seen: a
// service of the e2e stack refused to start with "address already in use"
// while Jaeger and the other services were connecting). Below the range
// only another caller of this function could take it: another test binary
// of the same `go test` run picking the same port before the first one's
// process bound it (seen too, once in a CI run). The reservation rules
// that out.
func ListenPort() (net.Listener, error) {
	low := ephemeralLow()
	const first = 10000
	for range 50 {
		port := first + rand.IntN(low-first)
		if !reserve(port) {
			continue
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return ln, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	return ln, nil
}

// reservationTTL is how long a port handed out by ListenPort stays
// reserved: far longer than any test takes from picking a port to binding
// it, and short enough that a whole `make test` reserves a small part of
// the range.
const reservationTTL = 10 * time.Minute

// portReservations is where the reservations are: one file per port,
// shared by every process of the machine.
var portReservations = filepath.Join(os.TempDir(), "staybook-test-ports")

// reserve reserves port for this process unless another process (or this
// one) did so less than reservationTTL ago: it creates the port's file,
// exclusively, or takes over a file older than that. Where the files
// cannot be written, every port counts as reserved, as before there were
// reservations.
func reserve(port int) bool {
	if err := os.MkdirAll(portReservations, 0o777); err != nil {
		return true
	}
	path := filepath.Join(portReservations, strconv.Itoa(port))
	for range 2 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
		if err == nil {
			f.Close()
			return true
		}
		if !errors.Is(err, fs.ErrExist) {
			return true
		}
		info, err := os.Stat(path)
		if err != nil || time.Since(info.ModTime()) < reservationTTL {
			return false
		}
		// Stale: remove it and create it again, exclusively, so that of two
		// processes taking it over at once only one succeeds.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return false
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 on
// Linux by default).
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				return n
			}
		}
	}
	return 32768
}

// FreeAddr returns a 127.0.0.1 address with a port free at the time of the
// call, below the ephemeral range (ListenPort).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := ListenPort()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePorts returns n distinct 127.0.0.1 ports free at the time of the call,
// below the ephemeral range (ListenPort): for a harness that starts several
// programs outside a test.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := ListenPort()
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
