package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/staybook/staybook/services/voucher/internal/ports"
	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/messaging"
)

// Name is the service's name: its queue suffix, log tag and database suffix.
const Name = "voucher"

// Config is the voucher service's configuration (README.md lists it).
type Config struct {
	config.Common
	// Workers is how many create_voucher handlers consume the queue at once.
	Workers int `env:"VOUCHER_WORKERS"`
	// ExtraLatency is an artificial delay per render, for the demos.
	ExtraLatency time.Duration `env:"VOUCHER_EXTRA_LATENCY"`
	// MaxConcurrentRenders bounds the renders running at once, queue
	// workers and direct-mode requests together; 0 means GOMAXPROCS.
	MaxConcurrentRenders int `env:"VOUCHER_MAX_CONCURRENT_RENDERS"`
	// Policy is create_voucher's retry policy (CREATE_VOUCHER_* variables).
	Policy messaging.RetryPolicy `env:"-"`
}

// DefaultConfig is the configuration of a local run, before the environment.
func DefaultConfig() Config {
	c := Config{Workers: 8, Policy: messaging.DefaultRetryPolicy()}
	c.Defaults(Name, ":8082")
	return c
}

// LoadConfig reads the environment over DefaultConfig. Errors name the variable.
func LoadConfig() (Config, error) {
	c := DefaultConfig()
	p, err := messaging.LoadRetryPolicy(ports.HandlerName, c.Policy)
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	c.Policy = p
	if err := config.Load(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the configuration (config.Load and program.New call it).
func (c Config) Validate() error {
	errs := []error{
		c.Common.Validate(),
		c.ValidatePolicy(),
		config.AtLeast("VOUCHER_WORKERS", c.Workers, 1),
		config.NotNegative("VOUCHER_EXTRA_LATENCY", c.ExtraLatency),
	}
	if c.MaxConcurrentRenders < 0 {
		errs = append(errs, fmt.Errorf("VOUCHER_MAX_CONCURRENT_RENDERS: %d must not be negative (0 means GOMAXPROCS)", c.MaxConcurrentRenders))
	}
	return errors.Join(errs...)
}

// ValidatePolicy checks the retry policy against the rest: a render that
// waits longer than an attempt may last would fail every time.
func (c Config) ValidatePolicy() error {
	prefix := messaging.EnvPrefix(ports.HandlerName)
	if err := c.Policy.Validate(ports.HandlerName); err != nil {
		return err
	}
	if c.ExtraLatency >= c.Policy.Timeout {
		return fmt.Errorf("VOUCHER_EXTRA_LATENCY: %s must be shorter than %sTIMEOUT (%s)", c.ExtraLatency, prefix, c.Policy.Timeout)
	}
	return nil
}
