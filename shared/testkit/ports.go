package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ListenPort returns a 127.0.0.1 listener on a port below the kernel's
// ephemeral range. A test picks a port, closes the listener, and starts a
// process that binds it a moment later; a port from the ephemeral range
// (what "127.0.0.1:0" gives) can be taken meanwhile by any outgoing
// connection on the machine (seen: a service of the e2e stack refused to
// start with "address already in use" while Jaeger and the other services
// were connecting). Below the range only another caller of this function
// can take it, one chance in tens of thousands.
func ListenPort() (net.Listener, error) {
	low := ephemeralLow()
	const first = 10000
	for range 50 {
		port := first + rand.IntN(low-first)
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
