package contracts

import (
	"errors"
	"fmt"
)

// Fault modes.
const (
	FaultTransient = "transient" // the handler returns an error worth retrying
	FaultPermanent = "permanent" // the handler returns an error never worth retrying
	FaultPanic     = "panic"     // the handler panics
)

// FaultChanged sets (or clears) fault injection on every replica of a
// service; it travels on the control fanout.
type FaultChanged struct {
	Service string `json:"service"`
	// Handler limits the fault to one handler; empty means every handler.
	Handler  string  `json:"handler,omitempty"`
	FailRate float64 `json:"fail_rate"`
	Mode     string  `json:"mode,omitempty"`
	// Clear removes the service's faults (FailRate and Mode are ignored).
	Clear bool `json:"clear,omitempty"`
}

func (FaultChanged) SchemaName() string { return "FaultChanged" }
func (FaultChanged) SchemaVersion() int { return 1 }

// Validate checks the fault.
func (f *FaultChanged) Validate() error {
	if f.Service == "" {
		return errors.New("service is missing")
	}
	if f.Clear {
		return nil
	}
	if f.FailRate < 0 || f.FailRate > 1 {
		return fmt.Errorf("fail_rate %g must be between 0 and 1", f.FailRate)
	}
	switch f.Mode {
	case FaultTransient, FaultPermanent, FaultPanic:
		return nil
	}
	return fmt.Errorf("mode %q must be transient, permanent or panic", f.Mode)
}
