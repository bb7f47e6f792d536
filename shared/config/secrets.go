package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Rules for secrets outside development (STAYBOOK_DEV).
const (
	// MinSecretBytes is the shortest secret a service accepts: 32 bytes, as
	// `openssl rand -hex 32` gives twice over.
	MinSecretBytes = 32
	// Placeholder marks the values of .env.example that must be replaced.
	Placeholder = "change-me"
)

// Secret is a credential a service refuses to start with, outside
// development, if it is a placeholder or too short.
type Secret struct {
	// Name is the environment variable.
	Name  string
	Value string
	// Optional secrets may be empty (the feature they guard is then off).
	Optional bool
}

// howToFix ends every secret error: what to do about it.
const howToFix = "generate one with `openssl rand -hex 32`, or set STAYBOOK_DEV=true on a development machine (make dev does)"

// CheckSecrets reports each secret that is empty (unless Optional), holds
// the "change-me" placeholder or is shorter than MinSecretBytes; nothing in
// development (Development, STAYBOOK_DEV), where make dev and the tests
// run with well-known values.
func (c *Common) CheckSecrets(secrets ...Secret) error {
	if c.Development {
		return nil
	}
	var errs []error
	for _, s := range secrets {
		switch {
		case s.Value == "" && s.Optional:
		case s.Value == "":
			errs = append(errs, fmt.Errorf("%s: is not set; %s", s.Name, howToFix))
		case strings.Contains(strings.ToLower(s.Value), Placeholder):
			errs = append(errs, fmt.Errorf("%s: is still the %q placeholder of .env.example; %s", s.Name, Placeholder, howToFix))
		case len(s.Value) < MinSecretBytes:
			errs = append(errs, fmt.Errorf("%s: is %d bytes, shorter than the %d a secret needs; %s", s.Name, len(s.Value), MinSecretBytes, howToFix))
		}
	}
	return errors.Join(errs...)
}

// checkURLPasswords refuses, outside development, a broker or database URL
// whose password is the "change-me" placeholder of .env.example (compose
// builds those URLs from RABBITMQ_PASSWORD and POSTGRES_PASSWORD). Their
// length is the broker's and the database's business.
func (c *Common) checkURLPasswords() error {
	if c.Development {
		return nil
	}
	var errs []error
	for _, v := range [][2]string{{"AMQP_URL", c.AMQPURL}, {"DATABASE_URL", c.DatabaseURL}} {
		u, err := url.Parse(v[1])
		if err != nil || u.User == nil {
			continue // not a URL with a password: the connection reports it
		}
		if p, _ := u.User.Password(); strings.Contains(strings.ToLower(p), Placeholder) {
			errs = append(errs, fmt.Errorf("%s: the password is still the %q placeholder of .env.example; set your own (RABBITMQ_PASSWORD, POSTGRES_PASSWORD in .env), or STAYBOOK_DEV=true on a development machine", v[0], Placeholder))
		}
	}
	return errors.Join(errs...)
}
