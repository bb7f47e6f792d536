package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/messaging"
)

// Name is the service's name: its logs, its database, its traces.
const Name = "deadletters"

// Config is the deadletters service's configuration (README, "Configuration").
type Config struct {
	config.Common
	// AdminToken guards the admin API; empty turns the API off (503).
	AdminToken string        `env:"ADMIN_TOKEN"`
	OutboxPoll time.Duration `env:"OUTBOX_POLL_INTERVAL"`
	// Workers is how many store_dead_letter handlers consume dead_letters at once.
	Workers int `env:"DEADLETTERS_WORKERS"`
	// DBMaxConns bounds the connection pool.
	DBMaxConns int32 `env:"DEADLETTERS_DB_MAX_CONNS"`
	// ReplayTimeout bounds one replay, the broker's confirm included.
	ReplayTimeout time.Duration `env:"REPLAY_TIMEOUT"`
	// StoreRetry is store_dead_letter's retry policy before the environment
	// (STORE_DEAD_LETTER_MAX_ATTEMPTS and the like) overrides it.
	StoreRetry messaging.RetryPolicy `env:"-"`
}

// DefaultConfig is the configuration before the environment is read.
func DefaultConfig() Config {
	c := Config{
		OutboxPoll:    50 * time.Millisecond,
		Workers:       2,
		DBMaxConns:    8,
		ReplayTimeout: 30 * time.Second,
		StoreRetry:    StoreRetryPolicy(),
	}
	c.Defaults(Name, ":8085")
	return c
}

// LoadConfig reads the configuration from the environment over DefaultConfig.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	err := config.Load(&cfg)
	return cfg, err
}

// Validate checks the values.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, c.Common.Validate())
	if c.OutboxPoll <= 0 {
		errs = append(errs, fmt.Errorf("OUTBOX_POLL_INTERVAL: %s must be positive", c.OutboxPoll))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("DEADLETTERS_WORKERS: %d must be at least 1", c.Workers))
	}
	if c.DBMaxConns < 2 {
		errs = append(errs, fmt.Errorf("DEADLETTERS_DB_MAX_CONNS: %d must be at least 2", c.DBMaxConns))
	}
	if c.ReplayTimeout <= 0 {
		errs = append(errs, fmt.Errorf("REPLAY_TIMEOUT: %s must be positive", c.ReplayTimeout))
	}
	// Outside development (STAYBOOK_DEV) no placeholder or short token.
	errs = append(errs, c.CheckSecrets(config.Secret{Name: "ADMIN_TOKEN", Value: c.AdminToken, Optional: true}))
	return errors.Join(errs...)
}

// StoreRetryPolicy is store_dead_letter's default policy: a letter must
// never be lost, so a database that is down is waited for with many
// attempts and a long maximum interval (about 10 minutes in all, well under
// RabbitMQ's 30-minute consumer timeout); after that the message is left on
// dead_letters and redelivered (see ports.RefuseDeadLetters), never dropped.
// STORE_DEAD_LETTER_MAX_ATTEMPTS and the like override it.
func StoreRetryPolicy() messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts = 30
	p.InitialInterval = 500 * time.Millisecond
	p.Multiplier = 2
	p.MaxInterval = 30 * time.Second
	p.RandomizationFactor = 0.2
	p.MaxElapsed = 10 * time.Minute
	p.Timeout = 30 * time.Second
	p.OnExhausted = messaging.ExhaustedDeadLetter
	return p
}
