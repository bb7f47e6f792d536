package messaging

import (
	"errors"
	"fmt"

	"github.com/staybook/staybook/shared/contracts"
)

// ErrPermanent marks an error that retrying cannot fix (invalid data, a
// message no handler understands). Such a message is dead-lettered at once.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that IsPermanent reports true for it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether err cannot be fixed by retrying: it wraps
// ErrPermanent or contracts.ErrMalformed. Everything else is transient.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, contracts.ErrMalformed)
}
