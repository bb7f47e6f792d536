package testkit

import (
	"fmt"
	"net/http"
	"os"

	"go.uber.org/goleak"
)

// VerifyNoLeaks runs a package's tests and then fails them if they left
// goroutines running; opts are the package's goleak ignores. The idle
// keep-alive connections of http.DefaultClient (testkit's vhost calls, the
// tests' own requests) are closed first: they are the pool's, not a leak.
// A package uses it as its whole TestMain:
//
//	func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
func VerifyNoLeaks(m interface{ Run() int }, opts ...goleak.Option) {
	code := m.Run()
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
