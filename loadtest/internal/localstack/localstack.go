// Package localstack runs a Staybook of the load test's own: the real
// service binaries (through system/stack) on free ports, with a RabbitMQ
// vhost and PostgreSQL databases created for it and removed afterwards, an
// in-process SMTP server that counts each booking's emails, and an
// in-process webhook receiver that counts its notifications. It does not
// touch a running `make dev` (default vhost, databases and ports).
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/staybook/staybook/shared/testkit"
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
	// The servers of shared/testkit, so CI points both at one place.
	if c.AMQPBase == "" {
		c.AMQPBase = testkit.AMQPBase
	}
	if c.RabbitAdminURL == "" {
		c.RabbitAdminURL = testkit.RabbitAdminURL
	}
	if c.PostgresAdmin == "" {
		c.PostgresAdmin = testkit.PostgresAdmin
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
	name := testkit.Name("loadtest")
	s := &Stack{cfg: cfg, DatabaseURLs: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.AMQPURL, err = testkit.CreateVhost(ctx, cfg.RabbitAdminURL, cfg.AMQPBase, name); err != nil {
		return nil, err
	}
	s.vhost = name
	for _, svc := range needsDatabase {
		db := name + "_" + svc
		if s.DatabaseURLs[svc], err = testkit.CreateDatabase(ctx, cfg.PostgresAdmin, db); err != nil {
			return nil, err
		}
		s.databases = append(s.databases, db)
	}
	if s.SMTP, err = StartSMTPSink(); err != nil {
		return nil, err
	}
	if s.Webhooks, err = StartWebhookSink(); err != nil {
		return nil, err
	}
	free, err := testkit.FreePorts(len(stack.Services))
	if err != nil {
		return nil, err
	}
	ports := map[string]int{}
	for i, svc := range stack.Services {
		ports[svc] = free[i]
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
		errs = append(errs, testkit.DropDatabase(ctx, s.cfg.PostgresAdmin, db))
	}
	if s.vhost != "" {
		errs = append(errs, testkit.DeleteVhost(ctx, s.cfg.RabbitAdminURL, s.vhost))
	}
	return errors.Join(errs...)
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
