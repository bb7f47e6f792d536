// Booking IDs: the web tier issues them and recognises those it issued.
//
// The web tier assigns a booking's ID before it publishes the BookRoom
// command, so that it can answer 202 with a status URL at once. Later it must
// tell an ID it issued, whose booking the booking service may not have stored
// yet (answer "pending"), from one it never issued (answer 404), on any
// replica and without shared state. So every ID carries its own proof: it is
// an RFC 4122 UUID whose first 8 bytes are random (version 4) or derived from
// the client's Idempotency-Key and request (version 5), and whose last 8 bytes
// are an HMAC of the first 8 under a secret every web replica shares.
//
// Layout (byte indexes of the 16-byte UUID):
//
//	0..7   random, or the first 8 bytes of UUIDv5(namespace, key, body hash);
//	       byte 6's high nibble is the version (4 or 5)
//	8..15  HMAC-SHA256(secret, bytes 0..7)[:8], byte 8's top two bits
//	       replaced by the RFC 4122 variant (10)
//
// That leaves 60 bits of randomness (two bookings collide by chance only
// after about 2^30 of them) and 62 bits of MAC (a forged ID is accepted with
// probability 2^-62).

package domain

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
)

// MinSecretBytes is the shortest secret an Issuer accepts.
const MinSecretBytes = 16

// Issuer issues and verifies booking IDs. It is safe for concurrent use.
type Issuer struct {
	namespace uuid.UUID
	secret    []byte
}

// IssuerConfig configures an Issuer; every web replica must use the same values.
type IssuerConfig struct {
	// Namespace is the UUIDv5 namespace of IDs derived from an Idempotency-Key.
	Namespace string
	// Secret is the HMAC key that signs issued IDs.
	Secret []byte
}

// NewIssuer builds an Issuer.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	ns, err := uuid.Parse(cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("booking ID namespace %q: %w", cfg.Namespace, err)
	}
	if len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("booking ID secret must be at least %d bytes, got %d", MinSecretBytes, len(cfg.Secret))
	}
	return &Issuer{namespace: ns, secret: append([]byte(nil), cfg.Secret...)}, nil
}

// Random issues a fresh random ID (version 4).
func (i *Issuer) Random() (string, error) {
	var u uuid.UUID
	if _, err := rand.Read(u[:8]); err != nil {
		return "", fmt.Errorf("random booking ID: %w", err)
	}
	return i.sign(u, 4).String(), nil
}

// FromKey issues the ID of the request with the given Idempotency-Key and
// canonical body (version 5): the same key and body give the same ID on every
// replica; another body under the same key gives another ID.
func (i *Issuer) FromKey(key string, canonicalBody []byte) string {
	bodyHash := sha256.Sum256(canonicalBody)
	// The key is printable ASCII (the API checks it), so "\n" cannot occur in
	// it and the name is unambiguous.
	name := key + "\n" + hex.EncodeToString(bodyHash[:])
	return i.sign(uuid.NewSHA1(i.namespace, []byte(name)), 5).String()
}

// Verify reports whether id is the canonical (lower-case, hyphenated) form of
// an ID this issuer, or another with the same secret, issued.
func (i *Issuer) Verify(id string) bool {
	if len(id) != 36 {
		return false
	}
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return false
	}
	if v := u[6] >> 4; v != 4 && v != 5 {
		return false
	}
	want := i.sign(u, u[6]>>4)
	return hmac.Equal(u[8:], want[8:])
}

// sign sets the version bits of u and overwrites bytes 8..15 with the MAC of
// bytes 0..7, then sets the variant bits.
func (i *Issuer) sign(u uuid.UUID, version byte) uuid.UUID {
	u[6] = u[6]&0x0f | version<<4
	mac := hmac.New(sha256.New, i.secret)
	mac.Write(u[:8])
	copy(u[8:], mac.Sum(nil)[:8])
	u[8] = u[8]&0x3f | 0x80
	return u
}

// KeyHash is the SHA-256 (hex) of an Idempotency-Key: what the BookRoom
// command and the booking service's idempotency lookup carry instead of the
// key itself.
func KeyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
