package config

import "fmt"

// Number is what the checks below compare: the integers, the floats and
// the types built on them, time.Duration among them.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

// The checks name the variable and the bad value, and return nil when the
// value is fine, so that a Validate is a list of them given to errors.Join.
// A value is printed with %v: an integer as 8, a float as 0.5, a
// time.Duration as 1.5s.

// AtLeast reports a value below min: "BOOKING_WORKERS: 0 must be at least 1".
func AtLeast[N Number](name string, v, min N) error {
	if v < min {
		return fmt.Errorf("%s: %v must be at least %v", name, v, min)
	}
	return nil
}

// Positive reports a value that is zero or less: "OUTBOX_POLL_INTERVAL: 0s must be positive".
func Positive[N Number](name string, v N) error {
	if v <= 0 {
		return fmt.Errorf("%s: %v must be positive", name, v)
	}
	return nil
}

// NotNegative reports a value below zero: "BOOKING_COMMAND_TTL: -1s must not be negative".
func NotNegative[N Number](name string, v N) error {
	if v < 0 {
		return fmt.Errorf("%s: %v must not be negative", name, v)
	}
	return nil
}
