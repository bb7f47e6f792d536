// Package e2e runs Staybook's real binaries against the machine's RabbitMQ
// and PostgreSQL, each test in a vhost and databases of its own, on free
// ports, and checks what users rely on end to end.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

var (
	buildMu sync.Mutex
	built   = map[string]bool{}
	binDir  string
	root    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// build compiles the services the test needs, once per test binary.
func build(t testing.TB, services []string) {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	var err error
	if root == "" {
		if root, err = stack.FindRoot(); err != nil {
			t.Fatal(err)
		}
		if binDir, err = os.MkdirTemp("", "staybook-e2e-bin"); err != nil {
			t.Fatal(err)
		}
	}
	var missing []string
	for _, s := range services {
		if !built[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := stack.Build(ctx, root, binDir, missing); err != nil {
		t.Fatal(err)
	}
	for _, s := range missing {
		built[s] = true
	}
}

// system is one test's Staybook.
type system struct {
	*stack.Stack
	amqpURL string
	dbURLs  map[string]string
	logs    *testkit.Buffer
	env     map[string]string // shared by every service; setEnv adds to it
}

// setEnv sets a variable for the services started after the call.
func (s *system) setEnv(k, v string) { s.env[k] = v }

// webInternal gives the web tier an internal listener (INTERNAL_ADDR),
// where its fault switches are (never on its public listener): the
// ServiceEnv to start it with, and the listener's base URL.
func webInternal(t *testing.T) (map[string]map[string]string, string) {
	t.Helper()
	addr := testkit.FreeAddr(t)
	return map[string]map[string]string{"web": {"INTERNAL_ADDR": addr}}, "http://" + addr
}

// newSystem prepares (but does not start) the given services with extra environment.
func newSystem(t *testing.T, services []string, env map[string]string, serviceEnv map[string]map[string]string) *system {
	t.Helper()
	build(t, services)
	s := &system{amqpURL: testkit.Vhost(t), dbURLs: map[string]string{}, logs: &testkit.Buffer{}}
	free, err := testkit.FreePorts(len(stack.Services))
	testkit.Must(t, err)
	ports := map[string]int{}
	for i, svc := range stack.Services {
		ports[svc] = free[i]
	}
	for _, svc := range services {
		s.dbURLs[svc] = testkit.Database(t)
	}
	base := map[string]string{
		"LOG_FORMAT": "text", "LOG_LEVEL": "info", "ADMIN_TOKEN": "test-admin-token",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "SHUTDOWN_TIMEOUT": "10s",
	}
	for k, v := range env {
		base[k] = v
	}
	s.env = base
	s.Stack = stack.New(stack.Config{
		Root: root, BinDir: binDir, Services: services, Ports: ports, AMQPURL: s.amqpURL,
		DatabaseURL: func(svc string) string { return s.dbURLs[svc] },
		Env:         base, ServiceEnv: serviceEnv, Logs: s.logs,
	})
	t.Cleanup(func() {
		// A service that exits non-zero when stopped failed to shut down
		// cleanly or, built with -race, saw a data race: either fails the test.
		if err := s.Close(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if strings.Contains(s.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("a service reported a data race (its report is in the logs below)")
		}
		if t.Failed() {
			t.Logf("logs of the system:\n%s", tail(s.logs.String(), 200))
		}
	})
	return s
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (s *system) start(t *testing.T, services ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, svc := range services {
		if err := s.Start(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
}

// response is an HTTP answer with its decoded JSON body.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// stayStart is a check-in date the web tier accepts (within two years).
var stayStart = time.Now().UTC().AddDate(0, 3, 0)

var client = &http.Client{Timeout: 30 * time.Second}

func do(t testing.TB, method, url string, body any, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	testkit.Must(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{Status: -1}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkOpenAPI(t, req, resp.StatusCode, resp.Header, raw)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	json.Unmarshal(raw, &r.Body)
	return r
}

func booking(hotel, room string, i int) map[string]any {
	return map[string]any{
		"hotel_id": hotel, "room_type": room,
		"check_in": stayStart.Format("2006-01-02"), "check_out": stayStart.AddDate(0, 0, 2).Format("2006-01-02"), "guests": 1,
		"guest_name": fmt.Sprintf("Guest %d", i), "guest_email": fmt.Sprintf("guest%d@example.com", i),
	}
}

func waitFinal(t *testing.T, web string, ids []string, timeout time.Duration) map[string]int {
	t.Helper()
	pending := map[string]bool{}
	for _, id := range ids {
		pending[id] = true
	}
	final := map[string]int{}
	testkit.Eventually(t, timeout, fmt.Sprintf("%d bookings final", len(ids)), func() bool {
		for id := range pending {
			r := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
			if st, _ := r.Body["status"].(string); r.Status == 200 && (st == "confirmed" || st == "rejected") {
				final[st]++
				delete(pending, id)
			}
		}
		return len(pending) == 0
	})
	return final
}
