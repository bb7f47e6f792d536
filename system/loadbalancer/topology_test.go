// Package loadbalancer_test runs the compose topology without Docker: Debian's
// nginx with the project's own configuration (deployments/nginx/default.conf,
// only its upstreams, resolver and listen address rewritten) in front of
// three real web binaries, configured as docker-compose.yml configures them
// (CLIENT_ADDRESS_HEADER; TRUSTED_PROXIES is nginx's address here), and a
// fake booking service. Clients get distinct loopback addresses by binding
// their sockets to 127.0.0.2, 127.0.0.3, ... (Linux routes all of 127/8).
package loadbalancer_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/system/stack"
)

// NginxBin is Debian's nginx (apt-get install nginx; .ci/run installs it).
const NginxBin = "/usr/sbin/nginx"

// The web tier's limits in this topology: low, so a test exhausts them
// with a few requests. Each replica has its own buckets.
const (
	rateLimitRPS   = "0.01" // one token every 100 s: no refill during a subtest
	rateLimitBurst = 3
	replicas       = 3
	// exemptNetwork is exempt from the rate limit; a client claiming an
	// address in it must gain nothing.
	exemptNetwork = "192.0.2.0/24"
)

var (
	buildOnce sync.Once
	buildErr  error
	webBin    string
	repoRoot  string
)

// buildWeb builds the web binary once for the package.
func buildWeb(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if repoRoot, buildErr = stack.FindRoot(); buildErr != nil {
			return
		}
		dir, err := os.MkdirTemp("", "staybook-lb-bin")
		if err != nil {
			buildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildErr = stack.Build(ctx, repoRoot, dir, []string{"web"})
		webBin = filepath.Join(dir, "web")
	})
	if buildErr != nil {
		t.Fatalf("build web: %v", buildErr)
	}
	return webBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if webBin != "" {
		os.RemoveAll(filepath.Dir(webBin))
	}
	os.Exit(code)
}

// topology is nginx in front of three web replicas.
type topology struct {
	url           string   // nginx
	replicas      []string // each web replica, directly
	loadTestToken string
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// composeWebSetting reads a web variable's literal value from docker-compose.yml.
func composeWebSetting(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	testkit.Must(t, err)
	m := regexp.MustCompile(`(?m)^\s+` + name + `:\s*(\S+)\s*$`).FindSubmatch(raw)
	if m == nil {
		t.Fatalf("docker-compose.yml sets no %s for web", name)
	}
	return string(m[1])
}

// fakeBooking serves the catalogue; every booking is unknown (pending).
func fakeBooking(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/catalogue", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"hotels":[{"id":"lisbon-alfama-house","name":"Alfama House","city":"Lisbon","address":"Rua de São Miguel 12","stars":3,
			"room_types":[{"id":"double","name":"Double room","capacity":2,"price_per_night":9500,"currency":"EUR","total_rooms":12}]}]}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"not found"}}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// process is a child process whose output is kept for a failure report.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *testkit.Buffer
	done chan struct{}
}

func start(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &testkit.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	testkit.Must(t, p.cmd.Start())
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", p.name, p.out)
		}
	})
	return p
}

// waitFor polls url until it answers 200, failing if p exits first (its
// output is logged at cleanup when the test failed).
func waitFor(t *testing.T, p *process, url string) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, p.name+": "+url+" answers 200", func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited: %v", p.name, p.cmd.ProcessState)
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// webEnv is a production-like environment: no STAYBOOK_DEV, secrets of
// 64 hex characters.
func webEnv(extra map[string]string) []string {
	env := []string{"STAYBOOK_DEV=false", "PATH=" + os.Getenv("PATH")}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

func startTopology(t *testing.T) *topology {
	t.Helper()
	if _, err := os.Stat(NginxBin); err != nil {
		t.Fatalf("%s is missing: install Debian's nginx (apt-get install nginx; .ci/run does)", NginxBin)
	}
	bin := buildWeb(t)
	top := &topology{loadTestToken: randomSecret(t)}
	amqpURL := testkit.Vhost(t)
	bookingURL := fakeBooking(t)
	shared := map[string]string{
		"AMQP_URL": amqpURL, "BOOKING_URL": bookingURL, "VOUCHER_URL": "http://127.0.0.1:1",
		"DEADLETTERS_URL": "http://127.0.0.1:1", "JAEGER_QUERY_URL": "http://127.0.0.1:1",
		// Every replica shares the booking ID secret (docs/architecture.md).
		"BOOKING_ID_SECRET": randomSecret(t), "ADMIN_TOKEN": randomSecret(t), "LOADTEST_TOKEN": top.loadTestToken,
		"TRUSTED_PROXIES":       "127.0.0.1", // nginx, where compose trusts its network
		"CLIENT_ADDRESS_HEADER": composeWebSetting(t, "CLIENT_ADDRESS_HEADER"),
		"RATE_LIMIT_RPS":        rateLimitRPS, "RATE_LIMIT_BURST": strconv.Itoa(rateLimitBurst),
		"RATE_LIMIT_EXEMPT": exemptNetwork,
		"SSE_HEARTBEAT":     "200ms",
		"LOG_FORMAT":        "text", "LOG_LEVEL": "warn",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none", "SHUTDOWN_TIMEOUT": "5s",
	}
	var procs []*process
	for i := range replicas {
		addr := testkit.FreeAddr(t)
		env := map[string]string{"HTTP_ADDR": addr}
		for k, v := range shared {
			env[k] = v
		}
		procs = append(procs, start(t, fmt.Sprintf("web-%d", i+1), webEnv(env), bin))
		top.replicas = append(top.replicas, "http://"+addr)
	}
	for i, p := range procs {
		waitFor(t, p, top.replicas[i]+"/readyz")
	}
	top.url = startNginx(t, top.replicas)
	return top
}

// startNginx runs nginx with deployments/nginx/default.conf in front of upstreams.
func startNginx(t *testing.T, upstreams []string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deployments", "nginx", "default.conf"))
	testkit.Must(t, err)
	conf := string(raw)
	rewrite := func(pattern string, repl func(m []string) string) {
		re := regexp.MustCompile(pattern)
		m := re.FindStringSubmatch(conf)
		if m == nil {
			t.Fatalf("deployments/nginx/default.conf has no %q: update this test's rewrite", pattern)
		}
		conf = strings.Replace(conf, m[0], repl(m), 1)
	}
	// Docker's DNS does not exist here, nor does `resolve` in Debian's nginx 1.22.
	rewrite(`(?m)^resolver [^;]*;`, func([]string) string { return "" })
	rewrite(`(?m)^(\s*)server\s+web:8080\s+([^;]*);`, func(m []string) string {
		params := strings.Join(slicesDelete(strings.Fields(m[2]), "resolve"), " ")
		var lines []string
		for _, u := range upstreams {
			lines = append(lines, fmt.Sprintf("%sserver %s %s;", m[1], strings.TrimPrefix(u, "http://"), params))
		}
		return strings.Join(lines, "\n")
	})
	listen := testkit.FreeAddr(t)
	rewrite(`(?m)^(\s*)listen\s+8080;`, func(m []string) string { return m[1] + "listen " + listen + ";" })

	dir, err := os.MkdirTemp("", "staybook-nginx")
	testkit.Must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	testkit.Must(t, os.Chmod(dir, 0o755)) // nginx's workers may run as another user
	testkit.Must(t, os.WriteFile(filepath.Join(dir, "default.conf"), []byte(conf), 0o644))
	userLine := ""
	if os.Geteuid() == 0 { // as root, workers would run as nobody: keep them as us
		u, err := user.Current()
		testkit.Must(t, err)
		userLine = "user " + u.Username + ";"
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/default.conf;
}
`, userLine, dir)
	testkit.Must(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644))
	args := []string{"-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log")}
	if out, err := exec.Command(NginxBin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n--- config:\n%s", err, out, conf)
	}
	p := start(t, "nginx", os.Environ(), NginxBin, args...)
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("--- nginx error.log:\n%s", log)
			}
		}
	})
	waitFor(t, p, "http://"+listen+"/lb-health")
	return "http://" + listen
}

func slicesDelete(s []string, v string) []string {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// clientFrom is an HTTP client whose connections come from ip (127.0.0.x).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

// get sends GET url with header pairs and returns the status.
func get(t *testing.T, c *http.Client, url string, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	testkit.Must(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	testkit.Must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// statuses counts the answers to n GETs of url.
func statuses(t *testing.T, c *http.Client, url string, n int, header ...string) map[int]int {
	t.Helper()
	out := map[int]int{}
	for range n {
		out[get(t, c, url, header...)]++
	}
	return out
}

// eventLines reads an event stream's lines onto a channel until it ends.
func eventLines(body *bufio.Reader) <-chan string {
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		for {
			line, err := body.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	return lines
}
