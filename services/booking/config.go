package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/messaging"
)

// Name is the service's name (logs, queue suffix, metrics).
const Name = "booking"

// Config is the booking service's configuration (docs/architecture.md, "Configuration").
type Config struct {
	config.Common
	// Workers is how many BookRoom commands are handled at once: the
	// database's protection, however long the queue gets.
	Workers int `env:"BOOKING_WORKERS"`
	// TaskWorkers is how many events of each task (VoucherCreated,
	// ConfirmationEmailSent, CustomerNotified) are recorded at once. Two
	// kept up to about 100 bookings a second; at 150/s CustomerNotified
	// backed up (docs/results/benchmarks.md, "Third round").
	TaskWorkers int `env:"BOOKING_TASK_WORKERS"`
	// DBMaxConns bounds the connection pool (the database's budget per replica).
	DBMaxConns int32 `env:"BOOKING_DB_MAX_CONNS"`
	// CommandTTL: older commands are rejected as expired, not confirmed hours later.
	CommandTTL time.Duration `env:"BOOKING_COMMAND_TTL"`
	// TransactionDelay holds every booking transaction's connection longer
	// (pg_sleep inside it; demo: the database as the bottleneck).
	TransactionDelay time.Duration `env:"BOOKING_TX_DELAY"`
	OutboxPoll       time.Duration `env:"OUTBOX_POLL_INTERVAL"` // the forwarder's fallback poll: commits wake it
	DirectTimeout    time.Duration `env:"DIRECT_TIMEOUT"`
	VoucherURL       string        `env:"VOUCHER_URL"`
	EmailURL         string        `env:"EMAIL_URL"`
	NotificationURL  string        `env:"NOTIFICATION_URL"`
	// Failpoint names a place where the process kills itself, for the chaos
	// suite: "booking.after_commit" dies after a booking commits, before
	// the outbox forwarder can publish its events.
	Failpoint string `env:"STAYBOOK_FAILPOINT"`
}

// DefaultConfig is the configuration before the environment is read.
func DefaultConfig() Config {
	c := Config{
		Workers:         8,
		TaskWorkers:     4,
		DBMaxConns:      16,
		CommandTTL:      time.Hour,
		OutboxPoll:      2 * time.Second,
		DirectTimeout:   30 * time.Second,
		VoucherURL:      "http://localhost:8082",
		EmailURL:        "http://localhost:8083",
		NotificationURL: "http://localhost:8084",
	}
	c.Defaults(Name, ":8081")
	return c
}

// LoadConfig reads the configuration from the environment over the defaults.
func LoadConfig() (Config, error) {
	return config.LoadOver(DefaultConfig())
}

// Validate checks the values, naming the variable of each bad one.
func (c Config) Validate() error {
	return errors.Join(
		c.Common.Validate(),
		config.AtLeast("BOOKING_WORKERS", c.Workers, 1),
		config.AtLeast("BOOKING_TASK_WORKERS", c.TaskWorkers, 1),
		config.AtLeast("BOOKING_DB_MAX_CONNS", c.DBMaxConns, 2),
		config.NotNegative("BOOKING_COMMAND_TTL", c.CommandTTL),
		config.Positive("OUTBOX_POLL_INTERVAL", c.OutboxPoll),
		c.validateFailpoint(),
	)
}

// validateFailpoint accepts no failpoint or one this service knows.
func (c Config) validateFailpoint() error {
	switch c.Failpoint {
	case "", "booking.after_commit":
		return nil
	default:
		return fmt.Errorf("STAYBOOK_FAILPOINT: unknown failpoint %q", c.Failpoint)
	}
}

// DefaultPolicy is every handler's retry policy unless the environment says
// otherwise (<HANDLER>_MAX_ATTEMPTS, ...). A booking the customer was told
// is accepted must outlive a database restart: retry for minutes (up to 30
// attempts, 10 s apart at most, 5 minutes in all, well under RabbitMQ's
// 30-minute consumer timeout) before an operator has to replay it. The
// chaos suite found the default 5 attempts (about 3 s) too short for a
// PostgreSQL restart. A task event may overtake the booking's own commit,
// so the task handlers retry as long.
func DefaultPolicy() messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts, p.MaxElapsed = 30, 5*time.Minute
	return p
}
