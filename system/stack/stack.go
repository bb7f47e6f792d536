// Package stack runs Staybook as local processes: it builds the service
// binaries (and Jaeger and Mailpit from the tools module), starts them with
// the contract's environment, prefixes their logs, waits for readiness, and
// can stop, kill and restart any of them. `make dev` and the end-to-end,
// load and chaos tests all run the system through it.
package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Services are Staybook's services in start order.
var Services = []string{"deadletters", "booking", "voucher", "email", "notification", "web"}

// DefaultPorts are the contract's local ports.
var DefaultPorts = map[string]int{
	"web": 8080, "booking": 8081, "voucher": 8082, "email": 8083, "notification": 8084, "deadletters": 8085,
}

// URLVariables maps a service to the variable other services find it by.
var URLVariables = map[string]string{
	"booking": "BOOKING_URL", "voucher": "VOUCHER_URL", "email": "EMAIL_URL",
	"notification": "NOTIFICATION_URL", "deadletters": "DEADLETTERS_URL",
}

// Config describes a stack.
type Config struct {
	// Root is the repository root (where go.work is).
	Root string
	// BinDir holds the built binaries (default Root/bin).
	BinDir string
	// Services to run (default: those of Services that exist in Root/services).
	Services []string
	// Host is the address services listen on (default 127.0.0.1).
	Host string
	// Ports per service (default DefaultPorts).
	Ports map[string]int
	// AMQPURL is the broker (vhost included).
	AMQPURL string
	// DatabaseURL returns the database URL of a service (default
	// postgres://postgres@localhost:5432/staybook_<service>).
	DatabaseURL func(service string) string
	// Env is added to every service's environment; ServiceEnv to one's.
	Env        map[string]string
	ServiceEnv map[string]map[string]string
	// Logs receives every process's output, each line prefixed with its name.
	Logs io.Writer
}

// Stack is a running set of processes.
type Stack struct {
	cfg   Config
	mu    sync.Mutex
	procs map[string]*Process
	// cleanups run in Close once every process has stopped.
	cleanups []func()
}

// Process is one running program.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// FindRoot walks up from the working directory to the folder holding go.work.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

// AvailableServices lists the services of Services that have a main package.
func AvailableServices(root string) []string {
	var out []string
	for _, s := range Services {
		if _, err := os.Stat(filepath.Join(root, "services", s, "main.go")); err == nil {
			out = append(out, s)
		}
	}
	return out
}

var buildMu sync.Mutex

// RaceVariable, set to 1 or true, makes Build compile the services with the
// race detector (STAYBOOK_RACE=1 go test ./system/e2e). A binary that saw
// a data race prints "WARNING: DATA RACE" and exits with status 66 when it
// stops (GORACE's default exitcode), so a stopped service reports it.
const RaceVariable = "STAYBOOK_RACE"

// BuildFlags are the go build flags RaceVariable asks for.
func BuildFlags() []string {
	switch strings.ToLower(os.Getenv(RaceVariable)) {
	case "1", "true", "yes":
		return []string{"-race"}
	}
	return nil
}

// Build compiles the services into binDir (go build caches, so a second
// build is quick), with the race detector if RaceVariable is set.
func Build(ctx context.Context, root, binDir string, services []string) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	args := append([]string{"build"}, BuildFlags()...)
	args = append(args, "-o", binDir+string(os.PathSeparator))
	for _, s := range services {
		args = append(args, "./services/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// BuildTools compiles Jaeger and Mailpit from the tools module into binDir.
// The first build takes minutes (Jaeger is large); later ones are cached.
func BuildTools(ctx context.Context, root, binDir string) error {
	buildMu.Lock()
	defer buildMu.Unlock()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir+string(os.PathSeparator), "tool")
	cmd.Dir = filepath.Join(root, "tools")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build tools: %w\n%s", err, out)
	}
	return nil
}

func (c *Config) defaults() {
	if c.BinDir == "" {
		c.BinDir = filepath.Join(c.Root, "bin")
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Ports == nil {
		c.Ports = DefaultPorts
	}
	if c.Services == nil {
		c.Services = AvailableServices(c.Root)
	}
	if c.DatabaseURL == nil {
		c.DatabaseURL = func(s string) string {
			return "postgres://postgres@localhost:5432/staybook_" + s + "?sslmode=disable"
		}
	}
	if c.Logs == nil {
		c.Logs = os.Stderr
	}
}

// New returns a stack that has started nothing yet.
func New(cfg Config) *Stack {
	cfg.defaults()
	return &Stack{cfg: cfg, procs: map[string]*Process{}}
}

// Config returns the stack's configuration with its defaults filled.
func (s *Stack) Config() Config { return s.cfg }

// URL is the base URL of a service.
func (s *Stack) URL(service string) string {
	return fmt.Sprintf("http://%s:%d", s.cfg.Host, s.cfg.Ports[service])
}

// Env is the environment a service starts with.
func (s *Stack) Env(service string) []string {
	env := map[string]string{
		// Local stacks (make dev, the end-to-end, load and chaos tests) run
		// with well-known development secrets, which a service refuses
		// without this flag (config.CheckSecrets). Env may override it.
		"STAYBOOK_DEV": "true",
		"HTTP_ADDR":    fmt.Sprintf("%s:%d", s.cfg.Host, s.cfg.Ports[service]),
		"AMQP_URL":     s.cfg.AMQPURL,
		"DATABASE_URL": s.cfg.DatabaseURL(service),
	}
	for svc, v := range URLVariables {
		if _, ok := s.cfg.Ports[svc]; ok {
			env[v] = s.URL(svc)
		}
	}
	for k, v := range s.cfg.Env {
		env[k] = v
	}
	for k, v := range s.cfg.ServiceEnv[service] {
		env[k] = v
	}
	out := os.Environ()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// StartAll starts every configured service in order and waits until each is ready.
func (s *Stack) StartAll(ctx context.Context) error {
	for _, svc := range s.cfg.Services {
		if err := s.Start(ctx, svc); err != nil {
			return err
		}
	}
	return nil
}

// Start starts one service and waits until its /readyz answers 200.
func (s *Stack) Start(ctx context.Context, service string) error {
	p, err := s.StartProgram(service, filepath.Join(s.cfg.BinDir, service), nil, s.Env(service))
	if err != nil {
		return err
	}
	return s.WaitReady(ctx, service, p)
}

// StartProgram starts any program under the stack's supervision.
func (s *Stack) StartProgram(name, path string, args, env []string) (*Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	prefix := fmt.Sprintf("%-13s| ", name)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(s.cfg.Logs, prefix+sc.Text())
		}
	}()
	go func() {
		<-copied
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs[name] = p
	s.mu.Unlock()
	return p, nil
}

// WaitReady polls the service's /readyz until it answers 200.
func (s *Stack) WaitReady(ctx context.Context, service string, p *Process) error {
	return WaitHTTP(ctx, s.URL(service)+"/readyz", p, 90*time.Second)
}

// WaitHTTP polls url until it answers 200, p (if not nil) exits, or timeout passes.
func WaitHTTP(ctx context.Context, url string, p *Process, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if p != nil {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before it was ready: %v", p.Name, p.err)
			default:
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Process returns the running process of a service, if any.
func (s *Stack) Process(name string) *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[name]
}

// Stop sends SIGTERM to a process and waits for it to exit (SIGKILL after timeout).
func (s *Stack) Stop(name string, timeout time.Duration) error {
	p := s.Process(name)
	if p == nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		s.forget(name, p)
		return fmt.Errorf("%s did not stop within %s: killed", name, timeout)
	}
	s.forget(name, p)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return fmt.Errorf("%s exited with %d", name, ee.ExitCode())
	}
	return p.err
}

// Kill sends SIGKILL to a process (no chance to clean up) and waits for it.
func (s *Stack) Kill(name string) {
	p := s.Process(name)
	if p == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	s.forget(name, p)
}

func (s *Stack) forget(name string, p *Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.procs[name] == p {
		delete(s.procs, name)
	}
}

// Done is closed when the process exits.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error once Done is closed.
func (p *Process) Err() error { return p.err }

// Close stops every process: services in reverse start order, tools last.
func (s *Stack) Close() error {
	order := slices.Clone(s.cfg.Services)
	slices.Reverse(order)
	names := s.Names()
	sort.SliceStable(names, func(i, j int) bool { return rank(order, names[i]) < rank(order, names[j]) })
	var errs []error
	for _, n := range names {
		if err := s.Stop(n, 30*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	cleanups := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for _, f := range cleanups {
		f()
	}
	return errors.Join(errs...)
}

// onClose has Close run f once every process has stopped.
func (s *Stack) onClose(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func rank(order []string, name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

// Names lists the running processes.
func (s *Stack) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.procs))
	for n := range s.procs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
