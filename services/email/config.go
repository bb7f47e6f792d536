package main

import (
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"time"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/ports"
)

// Name is the service's name: its logs, its queue suffix, its database.
const Name = "email"

// Config is the email service's configuration (README, "Configuration").
type Config struct {
	config.Common

	// VoucherURL is the voucher service, where the PDFs are fetched.
	VoucherURL     string        `env:"VOUCHER_URL"`
	VoucherTimeout time.Duration `env:"VOUCHER_TIMEOUT"`

	SMTPAddr     string        `env:"SMTP_ADDR"`
	SMTPUsername string        `env:"SMTP_USERNAME"`
	SMTPPassword string        `env:"SMTP_PASSWORD"`
	SMTPTLS      string        `env:"SMTP_TLS"`
	SMTPTimeout  time.Duration `env:"SMTP_TIMEOUT"`
	EmailFrom    string        `env:"EMAIL_FROM"`

	// Workers is how many VoucherCreated handlers consume the queue at once.
	Workers int `env:"EMAIL_WORKERS"`
	// ExtraLatency is an artificial delay per email (the story's slow provider).
	ExtraLatency time.Duration `env:"EMAIL_EXTRA_LATENCY"`

	// Retry is the VoucherCreated handler's retry policy, read by LoadConfig
	// from SEND_CONFIRMATION_EMAIL_MAX_ATTEMPTS and the like.
	Retry messaging.RetryPolicy `env:"-"`
}

// DefaultRetryPolicy suits SMTP: a mail server that refuses connections
// for a few seconds (a restart, a rate limit) is waited for about 15 s
// (0.5 + 1 + 2 + 4 + 8, with jitter) before the message is dead-lettered.
func DefaultRetryPolicy() messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts = 6
	p.InitialInterval = 500 * time.Millisecond
	p.Multiplier = 2
	p.MaxInterval = 10 * time.Second
	p.RandomizationFactor = 0.2
	return p
}

// DefaultConfig is the configuration before the environment is read: what
// the service runs with when no variable is set. Tests start from it.
func DefaultConfig() Config {
	cfg := Config{
		VoucherURL:     "http://localhost:8082",
		VoucherTimeout: 5 * time.Second,
		SMTPAddr:       "localhost:1025",
		SMTPTLS:        adapters.TLSNone,
		SMTPTimeout:    10 * time.Second,
		EmailFrom:      "Staybook <bookings@staybook.local>",
		Workers:        8,
		Retry:          DefaultRetryPolicy(),
	}
	cfg.Defaults(Name, ":8083")
	return cfg
}

// LoadConfig reads the configuration from the environment.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	policy, err := messaging.LoadRetryPolicy(ports.HandlerName, cfg.Retry)
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	cfg.Retry = policy
	if err := config.Load(&cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Validate reports every bad setting at once (config.Load and program.New call it).
func (c Config) Validate() error {
	return errors.Join(
		c.Common.Validate(),
		c.validateVoucherURL(),
		config.Positive("VOUCHER_TIMEOUT", c.VoucherTimeout),
		c.validateSMTP(),
		config.Positive("SMTP_TIMEOUT", c.SMTPTimeout),
		c.validateFrom(),
		config.AtLeast("EMAIL_WORKERS", c.Workers, 1),
		config.NotNegative("EMAIL_EXTRA_LATENCY", c.ExtraLatency),
		c.Retry.Validate(ports.HandlerName),
	)
}

func (c Config) validateVoucherURL() error {
	if u, err := url.Parse(c.VoucherURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("VOUCHER_URL: %q is not an http(s) URL", c.VoucherURL)
	}
	return nil
}

// validateSMTP checks the mail server's address and its TLS mode.
func (c Config) validateSMTP() error {
	var errs []error
	if c.SMTPAddr == "" {
		errs = append(errs, errors.New("SMTP_ADDR: must be host:port"))
	}
	switch c.SMTPTLS {
	case adapters.TLSNone, adapters.TLSStartTLS, adapters.TLSImplicit:
	default:
		errs = append(errs, fmt.Errorf("SMTP_TLS: %q is not none, starttls or tls", c.SMTPTLS))
	}
	return errors.Join(errs...)
}

func (c Config) validateFrom() error {
	if _, err := netmail.ParseAddress(c.EmailFrom); err != nil {
		return fmt.Errorf("EMAIL_FROM: %q: %w", c.EmailFrom, err)
	}
	return nil
}
