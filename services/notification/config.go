// Package service builds the notification service from its configuration:
// broker connections, publisher, router and handlers, the ntfy and webhook
// clients, and the HTTP server; and runs and stops them together.
package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/adapters"
	"github.com/staybook/staybook/services/notification/internal/domain"
	"github.com/staybook/staybook/services/notification/internal/ports"
)

// Name is the service's name (logs, queue suffix).
const Name = ports.ServiceName

// Config is the notification service's configuration (README.md lists it).
type Config struct {
	config.Common

	// NtfyURL is the ntfy server to publish to; empty turns the push channel off.
	NtfyURL string `env:"NTFY_URL"`
	// NtfyPublicURL is the ntfy server as guests reach it (default NtfyURL).
	NtfyPublicURL    string        `env:"NTFY_PUBLIC_URL"`
	NtfyToken        string        `env:"NTFY_TOKEN"`
	NtfyTopicPrefix  string        `env:"NTFY_TOPIC_PREFIX"`
	NtfyTopicSecret  string        `env:"NTFY_TOPIC_SECRET"`
	NtfyClickBaseURL string        `env:"NTFY_CLICK_BASE_URL"`
	NtfyTimeout      time.Duration `env:"NTFY_TIMEOUT"`

	// WebhookURLs receive every notification; empty turns the channel off.
	WebhookURLs    []string      `env:"NOTIFY_WEBHOOK_URLS" envSeparator:","`
	WebhookTimeout time.Duration `env:"NOTIFY_WEBHOOK_TIMEOUT"`

	// Workers is how many instances of each handler consume its queue.
	Workers      int           `env:"NOTIFICATION_WORKERS"`
	ExtraLatency time.Duration `env:"NOTIFICATION_EXTRA_LATENCY"`
	// RecentCapacity bounds the in-memory set of recent deliveries.
	RecentCapacity int `env:"NOTIFICATION_RECENT_CAPACITY"`

	// Policies are the handlers' retry policies by handler name, from
	// <HANDLER>_MAX_ATTEMPTS, <HANDLER>_ON_EXHAUSTED, ... (LoadPolicies);
	// a missing one is DefaultPolicy().
	Policies map[string]messaging.RetryPolicy
}

// DefaultConfig is the configuration before the environment is read.
func DefaultConfig() Config {
	cfg := Config{
		NtfyTopicPrefix: "staybook-",
		NtfyTimeout:     5 * time.Second,
		WebhookTimeout:  5 * time.Second,
		Workers:         2,
		RecentCapacity:  10000,
	}
	cfg.Defaults(Name, ":8084")
	return cfg
}

// DefaultPolicy is every handler's policy unless the environment says
// otherwise: few quick attempts, then discard. A push is not critical, and
// one that arrives minutes late is noise.
func DefaultPolicy() messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts = 4
	p.InitialInterval = 200 * time.Millisecond
	p.Multiplier = 2
	p.MaxInterval = 5 * time.Second
	p.RandomizationFactor = 0.2
	// One attempt is at most NOTIFICATION_EXTRA_LATENCY + max(NTFY_TIMEOUT,
	// NOTIFY_WEBHOOK_TIMEOUT) + PUBLISH_TIMEOUT with the defaults.
	p.Timeout = 20 * time.Second
	p.MaxElapsed = 2 * time.Minute
	p.OnExhausted = messaging.ExhaustedDiscard
	return p
}

// LoadPolicies reads each handler's policy from the environment over DefaultPolicy.
func LoadPolicies() (map[string]messaging.RetryPolicy, error) {
	policies := make(map[string]messaging.RetryPolicy, len(ports.HandlerNames))
	var errs []error
	for _, name := range ports.HandlerNames {
		p, err := messaging.LoadRetryPolicy(name, DefaultPolicy())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		policies[name] = p
	}
	return policies, errors.Join(errs...)
}

// LoadConfig reads the whole configuration from the environment.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := config.Load(&cfg); err != nil {
		return cfg, err
	}
	policies, err := LoadPolicies()
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	cfg.Policies = policies
	return cfg, nil
}

// Validate reports every bad value, naming its variable.
func (c Config) Validate() error {
	errs := []error{c.Common.Validate()}
	if c.NtfyURL != "" {
		if _, err := adapters.NewNtfy(adapters.NtfyConfig{URL: c.NtfyURL}); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, c.topics().Validate())
		// Outside development (STAYBOOK_DEV) no placeholder or short secret.
		errs = append(errs, c.CheckSecrets(config.Secret{Name: "NTFY_TOPIC_SECRET", Value: c.NtfyTopicSecret}))
	}
	for _, u := range c.webhookURLs() {
		errs = append(errs, adapters.ParseWebhookURL(u))
	}
	errs = append(errs,
		config.Positive("NTFY_TIMEOUT", c.NtfyTimeout),
		config.Positive("NOTIFY_WEBHOOK_TIMEOUT", c.WebhookTimeout),
		config.AtLeast("NOTIFICATION_WORKERS", c.Workers, 1),
		config.NotNegative("NOTIFICATION_EXTRA_LATENCY", c.ExtraLatency),
		config.AtLeast("NOTIFICATION_RECENT_CAPACITY", c.RecentCapacity, 1),
	)
	for name, p := range c.Policies {
		errs = append(errs, p.Validate(name))
	}
	return errors.Join(errs...)
}

func (c Config) topics() domain.TopicScheme {
	return domain.TopicScheme{Prefix: c.NtfyTopicPrefix, Secret: []byte(c.NtfyTopicSecret)}
}

// webhookURLs is NOTIFY_WEBHOOK_URLS without blanks ("a, b," is two URLs).
func (c Config) webhookURLs() []string {
	var urls []string
	for _, u := range c.WebhookURLs {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

func (c Config) ntfyPublicURL() string {
	if c.NtfyPublicURL != "" {
		return c.NtfyPublicURL
	}
	return c.NtfyURL
}

func (c Config) policy(handler string) messaging.RetryPolicy {
	if p, ok := c.Policies[handler]; ok {
		return p
	}
	return DefaultPolicy()
}
