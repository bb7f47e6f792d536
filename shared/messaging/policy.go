package messaging

import (
	"fmt"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// What a handler does with a message that failed all its attempts.
const (
	ExhaustedDeadLetter = "dead_letter" // store it in dead_letters for an operator
	ExhaustedDiscard    = "discard"     // log it, count it and drop it (non-critical work)
)

// RetryPolicy is how one handler retries: exponential backoff with jitter.
// The n-th wait (n from 0) is InitialInterval x Multiplier^n, capped at
// MaxInterval, then spread by +/- RandomizationFactor.
type RetryPolicy struct {
	// MaxAttempts counts calls of the handler, the first included.
	MaxAttempts         int           `env:"MAX_ATTEMPTS"`
	InitialInterval     time.Duration `env:"INITIAL_INTERVAL"`
	Multiplier          float64       `env:"MULTIPLIER"`
	MaxInterval         time.Duration `env:"MAX_INTERVAL"`
	RandomizationFactor float64       `env:"RANDOMIZATION_FACTOR"`
	// MaxElapsed bounds all attempts together; keep it well under RabbitMQ's
	// consumer timeout (30 minutes by default), or the broker closes the channel.
	MaxElapsed time.Duration `env:"MAX_ELAPSED"`
	// Timeout bounds one attempt.
	Timeout time.Duration `env:"TIMEOUT"`
	// OnExhausted is ExhaustedDeadLetter or ExhaustedDiscard.
	OnExhausted string `env:"ON_EXHAUSTED"`
}

// DefaultRetryPolicy suits a task that talks to a database or another service.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:         5,
		InitialInterval:     200 * time.Millisecond,
		Multiplier:          2,
		MaxInterval:         10 * time.Second,
		RandomizationFactor: 0.2,
		MaxElapsed:          2 * time.Minute,
		Timeout:             30 * time.Second,
		OnExhausted:         ExhaustedDeadLetter,
	}
}

// EnvPrefix is the prefix of a handler's variables: handler "book_room" reads
// BOOK_ROOM_MAX_ATTEMPTS, BOOK_ROOM_INITIAL_INTERVAL, and so on.
func EnvPrefix(handler string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(handler)) + "_"
}

// LoadRetryPolicy overrides def with the handler's environment variables.
func LoadRetryPolicy(handler string, def RetryPolicy) (RetryPolicy, error) {
	p := def
	if err := env.ParseWithOptions(&p, env.Options{Prefix: EnvPrefix(handler)}); err != nil {
		return p, fmt.Errorf("retry policy of %s (%s*): %w", handler, EnvPrefix(handler), err)
	}
	return p, p.Validate(handler)
}

// Validate rejects a policy that cannot work.
func (p RetryPolicy) Validate(handler string) error {
	prefix := EnvPrefix(handler)
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("%sMAX_ATTEMPTS: %d must be at least 1", prefix, p.MaxAttempts)
	case p.Multiplier < 1:
		return fmt.Errorf("%sMULTIPLIER: %g must be at least 1", prefix, p.Multiplier)
	case p.RandomizationFactor < 0 || p.RandomizationFactor >= 1:
		return fmt.Errorf("%sRANDOMIZATION_FACTOR: %g must be in [0, 1)", prefix, p.RandomizationFactor)
	case p.InitialInterval < 0 || p.MaxInterval < p.InitialInterval:
		return fmt.Errorf("%sINITIAL_INTERVAL/%sMAX_INTERVAL: need 0 <= initial <= max", prefix, prefix)
	case p.Timeout <= 0:
		return fmt.Errorf("%sTIMEOUT: %s must be positive", prefix, p.Timeout)
	case p.OnExhausted != ExhaustedDeadLetter && p.OnExhausted != ExhaustedDiscard:
		return fmt.Errorf("%sON_EXHAUSTED: %q is not %q or %q", prefix, p.OnExhausted, ExhaustedDeadLetter, ExhaustedDiscard)
	}
	return nil
}
