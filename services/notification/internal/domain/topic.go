package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// TopicHexChars is how much of the HMAC a topic keeps: 16 hex characters are
// 64 bits, far beyond guessing by brute force against a rate-limited server,
// and short enough to type into the ntfy app.
const TopicHexChars = 16

// MinTopicSecretLength keeps the secret from being a word someone could guess
// (with the secret, anyone could derive any guest's topic from the address).
const MinTopicSecretLength = 16

// ntfy accepts topics of 1 to 64 characters from this set.
var ntfyTopicChars = regexp.MustCompile(`^[-_A-Za-z0-9]*$`)

// TopicScheme derives a guest's ntfy topic from their email address.
//
// A topic on ntfy is a password: whoever knows it can read its messages. So
// it must not be guessable from the address alone (an HMAC with a server-side
// secret), yet the same for every message about the same guest, on every
// replica, across restarts (derived, not stored), so that a guest subscribes
// once. The guest learns it from Staybook itself (see README: the booking
// page or the confirmation email can show it; POST /internal/push-topics
// computes it).
type TopicScheme struct {
	Prefix string
	Secret []byte
}

// Validate rejects a scheme that would give guessable or invalid topics.
// Messages name the environment variables that configure the scheme.
func (s TopicScheme) Validate() error {
	var errs []error
	if len(s.Secret) < MinTopicSecretLength {
		errs = append(errs, fmt.Errorf("NTFY_TOPIC_SECRET: must be at least %d characters when NTFY_URL is set", MinTopicSecretLength))
	}
	if !ntfyTopicChars.MatchString(s.Prefix) || len(s.Prefix)+TopicHexChars > 64 {
		errs = append(errs, fmt.Errorf("NTFY_TOPIC_PREFIX: %q must be at most %d of the characters A-Z a-z 0-9 - _", s.Prefix, 64-TopicHexChars))
	}
	return errors.Join(errs...)
}

// Topic is the guest's topic: Prefix followed by the first 16 hex characters
// of HMAC-SHA256(Secret, the address trimmed and lowercased). Email addresses
// are compared case-insensitively in practice, so "Ann@X.org" and "ann@x.org"
// get the same topic.
func (s TopicScheme) Topic(email string) string {
	mac := hmac.New(sha256.New, s.Secret)
	mac.Write([]byte(NormalizeEmail(email)))
	return s.Prefix + hex.EncodeToString(mac.Sum(nil))[:TopicHexChars]
}

// NormalizeEmail is the form of an address a topic is derived from.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
