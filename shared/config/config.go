// Package config reads a service's configuration from environment variables,
// once, at start-up, with errors that name the offending variable.
//
// Every service declares one struct with `env` tags and embeds Common, the
// variables every service shares (docs/architecture.md, "Configuration").
// Its LoadConfig is LoadOver(DefaultConfig()), and its Validate joins one
// check per variable (AtLeast, Positive, NotNegative, or its own).
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"reflect"

	"github.com/caarlos0/env/v11"
)

// Common holds the settings that carry the same name and meaning in every service.
type Common struct {
	HTTPAddr    string `env:"HTTP_ADDR"`
	MetricsAddr string `env:"METRICS_ADDR"`
	// InternalAddr is the internal listener: /metrics, net/http/pprof and
	// operator endpoints (the web tier's fault switches); never exposed.
	InternalAddr string `env:"INTERNAL_ADDR"`
	AMQPURL      string `env:"AMQP_URL" envDefault:"amqp://guest:guest@localhost:5672/"`
	DatabaseURL  string `env:"DATABASE_URL"`

	// AMQPQueueType and BookingQueueMax shape the broker topology, which every
	// service declares identically, so they must be the same everywhere.
	AMQPQueueType     string        `env:"AMQP_QUEUE_TYPE" envDefault:"classic"`
	BookingQueueMax   int           `env:"BOOKING_QUEUE_MAX" envDefault:"100000"`
	QuorumDeliveryMax int           `env:"AMQP_DELIVERY_LIMIT" envDefault:"20"`
	PublishTimeout    time.Duration `env:"PUBLISH_TIMEOUT" envDefault:"5s"`
	// PublishChannels is how many AMQP channels a process publishes on; each
	// carries many messages awaiting their confirms (messaging.Publisher).
	PublishChannels int `env:"AMQP_PUBLISH_CHANNELS" envDefault:"4"`
	// PublishMaxInFlight bounds the messages a process has published and
	// not yet seen confirmed, all channels together.
	PublishMaxInFlight int           `env:"AMQP_PUBLISH_MAX_IN_FLIGHT" envDefault:"1024"`
	ShutdownTimeout    time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s"`
	AMQPConnectTimeout time.Duration `env:"AMQP_CONNECT_TIMEOUT" envDefault:"60s"`

	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`

	// Development (STAYBOOK_DEV) accepts placeholder and short secrets:
	// make dev and the test stacks set it. Anywhere else a service refuses
	// to start with them (CheckSecrets).
	Development bool `env:"STAYBOOK_DEV"`
}

// Defaults fills the shared defaults (the envDefault tags, so that a config
// built in code, as tests do, is complete without Load) and what depends on
// the service: its port and its database.
func (c *Common) Defaults(service, httpAddr string) {
	if err := env.ParseWithOptions(c, env.Options{Environment: map[string]string{}}); err != nil {
		panic(err) // only a broken envDefault tag
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = httpAddr
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = fmt.Sprintf("postgres://postgres@localhost:5432/staybook_%s?sslmode=disable", service)
	}
}

// Validate checks the values that a typo would turn into a confusing failure later.
func (c *Common) Validate() error {
	var queueType, logFormat error
	switch c.AMQPQueueType {
	case "classic", "quorum":
	default:
		queueType = fmt.Errorf(`AMQP_QUEUE_TYPE: %q is not "classic" or "quorum"`, c.AMQPQueueType)
	}
	switch strings.ToLower(c.LogFormat) {
	case "json", "text":
	default:
		logFormat = fmt.Errorf(`LOG_FORMAT: %q is not "json" or "text"`, c.LogFormat)
	}
	return errors.Join(
		queueType,
		AtLeast("BOOKING_QUEUE_MAX", c.BookingQueueMax, 1),
		AtLeast("AMQP_PUBLISH_CHANNELS", c.PublishChannels, 1),
		AtLeast("AMQP_PUBLISH_MAX_IN_FLIGHT", c.PublishMaxInFlight, 1),
		Positive("PUBLISH_TIMEOUT", c.PublishTimeout),
		logFormat,
		c.checkURLPasswords(),
	)
}

// Validator is implemented by service configs that check their own fields.
type Validator interface{ Validate() error }

// Load parses the environment into cfg (a pointer to a struct with env tags).
// Fields already set in cfg act as defaults. The error names every bad variable.
func Load(cfg any) error {
	if err := env.Parse(cfg); err != nil {
		return fmt.Errorf("configuration: %w", nameVariables(cfg, err))
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}
	return nil
}

// LoadOver is Load on a copy of defaults: a service's LoadConfig is
// LoadOver(DefaultConfig()). It returns what was read even with an error, so
// that `<binary> healthcheck` still finds HTTP_ADDR in a bad configuration.
func LoadOver[T any](defaults T) (T, error) {
	err := Load(&defaults)
	return defaults, err
}

// nameVariables rewrites env's parse errors, which name the Go field, so that
// they name the environment variable a user has to fix.
func nameVariables(cfg any, err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if key := envKey(reflect.TypeOf(cfg), pe.Name); key != "" {
				e = fmt.Errorf("%s: %w", key, pe.Err)
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

func envKey(t reflect.Type, field string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == field {
			if key, _, _ := strings.Cut(f.Tag.Get("env"), ","); key != "" {
				return key
			}
		}
		if f.Anonymous || f.Type.Kind() == reflect.Struct {
			if key := envKey(f.Type, field); key != "" {
				return key
			}
		}
	}
	return ""
}

// CommonConfig returns the shared settings (servicekit.Configuration): a
// service's configuration, embedding Common, has it too.
func (c Common) CommonConfig() Common { return c }
