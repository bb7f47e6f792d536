package main

import (
	"errors"
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
	AdminToken string `env:"ADMIN_TOKEN"`
	// OutboxPoll is the outbox forwarder's fallback poll: commits wake it
	// (shared/outbox), the poll covers a notification missed.
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
		OutboxPoll:    2 * time.Second,
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
	return config.LoadOver(DefaultConfig())
}

// Validate checks the values.
func (c Config) Validate() error {
	return errors.Join(
		c.Common.Validate(),
		config.Positive("OUTBOX_POLL_INTERVAL", c.OutboxPoll),
		config.AtLeast("DEADLETTERS_WORKERS", c.Workers, 1),
		config.AtLeast("DEADLETTERS_DB_MAX_CONNS", c.DBMaxConns, 2),
		config.Positive("REPLAY_TIMEOUT", c.ReplayTimeout),
		// Outside development (STAYBOOK_DEV) no placeholder or short token.
		c.CheckSecrets(config.Secret{Name: "ADMIN_TOKEN", Value: c.AdminToken, Optional: true}),
	)
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
