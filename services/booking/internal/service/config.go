package service

import (
	"errors"
	"fmt"
	"time"

	"github.com/staybook/staybook/shared/config"
)

// Config is the booking service's configuration (docs/architecture.md, "Configuration").
type Config struct {
	config.Common
	// Workers is how many BookRoom commands are handled at once: the
	// database's protection, however long the queue gets.
	Workers int `env:"BOOKING_WORKERS"`
	// DBMaxConns bounds the connection pool (the database's budget per replica).
	DBMaxConns int32 `env:"BOOKING_DB_MAX_CONNS"`
	// CommandTTL: older commands are rejected as expired, not confirmed hours later.
	CommandTTL time.Duration `env:"BOOKING_COMMAND_TTL"`
	// TransactionDelay holds every booking transaction's connection longer
	// (pg_sleep inside it; demo: the database as the bottleneck).
	TransactionDelay time.Duration `env:"BOOKING_TX_DELAY"`
	OutboxPoll       time.Duration `env:"OUTBOX_POLL_INTERVAL"`
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
		DBMaxConns:      16,
		CommandTTL:      time.Hour,
		OutboxPoll:      50 * time.Millisecond,
		DirectTimeout:   30 * time.Second,
		VoucherURL:      "http://localhost:8082",
		EmailURL:        "http://localhost:8083",
		NotificationURL: "http://localhost:8084",
	}
	c.Defaults("booking", ":8081")
	return c
}

// Validate checks the values.
func (c *Config) Validate() error {
	var errs []error
	errs = append(errs, c.Common.Validate())
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("BOOKING_WORKERS: %d must be at least 1", c.Workers))
	}
	if c.DBMaxConns < 2 {
		errs = append(errs, fmt.Errorf("BOOKING_DB_MAX_CONNS: %d must be at least 2", c.DBMaxConns))
	}
	if c.CommandTTL < 0 {
		errs = append(errs, fmt.Errorf("BOOKING_COMMAND_TTL: %s must not be negative", c.CommandTTL))
	}
	if c.OutboxPoll <= 0 {
		errs = append(errs, fmt.Errorf("OUTBOX_POLL_INTERVAL: %s must be positive", c.OutboxPoll))
	}
	switch c.Failpoint {
	case "", "booking.after_commit":
	default:
		errs = append(errs, fmt.Errorf("STAYBOOK_FAILPOINT: unknown failpoint %q", c.Failpoint))
	}
	return errors.Join(errs...)
}
