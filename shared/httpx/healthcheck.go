package httpx

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Healthcheck is a service binary's `healthcheck` subcommand, for container
// images without a shell or curl: it asks the service listening on httpAddr
// (HTTP_ADDR, or def when that is empty) for /readyz and returns the exit
// code, 0 when ready.
func Healthcheck(httpAddr, def string) int {
	if httpAddr == "" {
		httpAddr = def
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck: HTTP_ADDR:", err)
		return 2
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: not ready:", resp.Status)
		return 1
	}
	return 0
}
