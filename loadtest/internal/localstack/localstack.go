// Package localstack runs a Staybook of the load test's own: the real
// service binaries (through system/stack) on free ports, with a RabbitMQ
// vhost and PostgreSQL databases created for it and removed afterwards, an
// in-process SMTP server that counts each booking's emails, and an
// in-process webhook receiver that counts its notifications. It does not
// touch a running `make dev` (default vhost, databases and ports).
package localstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staybook/staybook/system/stack"
)

// Services a load test runs, in start order; deadletters is left out (its
// queue's depth is sampled, and nothing should reach it).
var Services = []string{"booking", "voucher", "email", "notification", "web"}

// needsDatabase lists the services with a database of their own.
var needsDatabase = []string{"booking", "voucher", "email", "deadletters"}

// Config describes a stack.
type Config struct {
	// Root is the repository root (default: found from the working directory).
	Root string
	// BinDir holds the built binaries (Build).
	BinDir string
	// Services to start (default: those of Services that exist).
	Services []string
	// Env is added to every service's environment; ServiceEnv to one's.
	Env        map[string]string
	ServiceEnv map[string]map[string]string
	// Logs receives the services' output.
	Logs io.Writer
	// Infrastructure, default the machine's: AMQPBase is the broker
	// (guest/guest), RabbitAdminURL its management API, PostgresAdmin a
	// database URL allowed to CREATE DATABASE.
	AMQPBase, RabbitAdminURL, PostgresAdmin string
}

// Stack is a running isolated Staybook.
type Stack struct {
	*stack.Stack
	cfg Config
	// AMQPURL is the stack's vhost.
	AMQPURL string
	// DatabaseURLs per service.
	DatabaseURLs map[string]string
	// SMTP receives the confirmation emails; Webhooks the notifications.
	SMTP     *SMTPSink
	Webhooks *WebhookSink

	vhost     string
	databases []string
}

// Root finds the repository root.
func Root() (string, error) { return stack.FindRoot() }

// Build compiles the services into binDir (with -race if STAYBOOK_RACE is
// set, as stack.Build does). Like stack.Build, but with the
// workspace named explicitly: the load test itself may run with GOWORK=off
// (until go.work lists it), which the go command would pass on.
func Build(ctx context.Context, root, binDir string, services []string) error {
	args := append([]string{"build"}, stack.BuildFlags()...)
	args = append(args, "-o", binDir+string(os.PathSeparator))
	for _, s := range services {
		args = append(args, "./services/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// Available returns those of want that have a main package (all of
// Services when want is empty).
func Available(root string, want []string) []string {
	if len(want) == 0 {
		want = Services
	}
	have := stack.AvailableServices(root)
	var out []string
	for _, s := range want {
		if slices.Contains(have, s) {
			out = append(out, s)
		}
	}
	return out
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *Config) defaults() error {
	if c.Root == "" {
		root, err := stack.FindRoot()
		if err != nil {
			return err
		}
		c.Root = root
	}
	if c.Services == nil {
		c.Services = Available(c.Root, nil)
	}
	if c.Logs == nil {
		c.Logs = io.Discard
	}
	// The same variables as shared/testkit, so CI points both at one place.
	if c.AMQPBase == "" {
		c.AMQPBase = getenv("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	}
	if c.RabbitAdminURL == "" {
		c.RabbitAdminURL = getenv("TEST_RABBITMQ_ADMIN_URL", "http://guest:guest@127.0.0.1:15672")
	}
	if c.PostgresAdmin == "" {
		c.PostgresAdmin = getenv("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	return nil
}

// Start creates the vhost, the databases, the sinks, and starts the
// services in order, each ready before the next. On error everything made
// so far is removed again.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	name := randomName("loadtest")
	s := &Stack{cfg: cfg, DatabaseURLs: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.AMQPURL, err = s.createVhost(ctx, name); err != nil {
		return nil, err
	}
	for _, svc := range needsDatabase {
		db := name + "_" + svc
		if err = s.createDatabase(ctx, db); err != nil {
			return nil, err
		}
		u, _ := url.Parse(cfg.PostgresAdmin)
		u.Path = "/" + db
		s.DatabaseURLs[svc] = u.String()
	}
	if s.SMTP, err = StartSMTPSink(); err != nil {
		return nil, err
	}
	if s.Webhooks, err = StartWebhookSink(); err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for _, svc := range stack.Services {
		if ports[svc], err = FreePort(); err != nil {
			return nil, err
		}
	}
	env := map[string]string{
		"LOG_FORMAT": "text", "LOG_LEVEL": "warn", "ADMIN_TOKEN": "loadtest-admin-token",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none", "SHUTDOWN_TIMEOUT": "10s",
		"SMTP_ADDR": s.SMTP.Addr(), "NOTIFY_WEBHOOK_URLS": s.Webhooks.URL(),
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	s.Stack = stack.New(stack.Config{
		Root: cfg.Root, BinDir: cfg.BinDir, Services: cfg.Services, Ports: ports, AMQPURL: s.AMQPURL,
		DatabaseURL: func(svc string) string {
			if u, ok := s.DatabaseURLs[svc]; ok {
				return u
			}
			return s.DatabaseURLs["booking"] // unused by services without a database
		},
		Env: env, ServiceEnv: cfg.ServiceEnv, Logs: cfg.Logs,
	})
	if err = s.StartAll(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Running reports whether the stack runs service.
func (s *Stack) Running(service string) bool { return s.Stack != nil && s.Process(service) != nil }

// URLOf is the service's base URL if the stack runs it, else "".
func (s *Stack) URLOf(service string) string {
	if !s.Running(service) {
		return ""
	}
	return s.URL(service)
}

// Close stops the services and removes the sinks, databases and vhost.
func (s *Stack) Close() error {
	var errs []error
	if s.Stack != nil {
		errs = append(errs, s.Stack.Close())
	}
	if s.SMTP != nil {
		s.SMTP.Close()
	}
	if s.Webhooks != nil {
		s.Webhooks.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, db := range s.databases {
		errs = append(errs, s.dropDatabase(ctx, db))
	}
	if s.vhost != "" {
		errs = append(errs, s.deleteVhost(ctx))
	}
	return errors.Join(errs...)
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// FreePort is a port of 127.0.0.1 free at the time of the call.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// The vhost is made and removed through the management API, as
// shared/testkit does for tests (which needs a testing.TB).
func (s *Stack) rabbitAdmin(ctx context.Context, method, path string, body any) error {
	u, err := url.Parse(s.cfg.RabbitAdminURL)
	if err != nil {
		return fmt.Errorf("rabbitmq admin URL: %w", err)
	}
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.Scheme+"://"+u.Host+path, rd)
	if err != nil {
		return err
	}
	pass, _ := u.User.Password()
	req.SetBasicAuth(u.User.Username(), pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s (is the RabbitMQ management plugin enabled?): %w", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

func (s *Stack) createVhost(ctx context.Context, name string) (string, error) {
	if err := s.rabbitAdmin(ctx, http.MethodPut, "/api/vhosts/"+name, nil); err != nil {
		return "", fmt.Errorf("create vhost: %w", err)
	}
	s.vhost = name
	u, err := url.Parse(s.cfg.AMQPBase)
	if err != nil {
		return "", fmt.Errorf("AMQP URL: %w", err)
	}
	if err := s.rabbitAdmin(ctx, http.MethodPut, "/api/permissions/"+name+"/"+u.User.Username(),
		map[string]string{"configure": ".*", "write": ".*", "read": ".*"}); err != nil {
		return "", fmt.Errorf("vhost permissions: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func (s *Stack) deleteVhost(ctx context.Context) error {
	return s.rabbitAdmin(ctx, http.MethodDelete, "/api/vhosts/"+s.vhost, nil)
}

func (s *Stack) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.cfg.PostgresAdmin)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	s.databases = append(s.databases, name)
	return nil
}

func (s *Stack) dropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.cfg.PostgresAdmin)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// CountBookings counts the bookings stored in the stack's booking database.
func (s *Stack) CountBookings(ctx context.Context) (int, error) {
	return CountBookings(ctx, s.DatabaseURLs["booking"])
}

// CountBookings counts the rows of the bookings table at dbURL.
func CountBookings(ctx context.Context, dbURL string) (int, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, fmt.Errorf("connect to the booking database: %w", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM bookings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count bookings: %w", err)
	}
	return n, nil
}
