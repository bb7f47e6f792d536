package chaos

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if they leave goroutines behind: the
// run's stream, tracker, proxies and clients must all stop with it. Idle
// keep-alive connections of http.DefaultClient (the stack's readiness polls,
// testkit's vhost calls) are closed first: they are the pool's, not a leak.
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
