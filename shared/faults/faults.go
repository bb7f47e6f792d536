// Package faults injects failures into message handlers, for demos and
// tests: a failure rate and a mode (transient, permanent, panic) per service
// and handler, set by environment at start-up (FAULT_RATE, FAULT_MODE,
// FAULT_HANDLER) and at run time by a FaultChanged message on the control
// fanout, which every replica of every service receives.
package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

// ErrInjected is the error an injected failure returns.
var ErrInjected = errors.New("injected failure")

// ControlHandler is the name of the handler that applies FaultChanged messages.
const ControlHandler = "apply_fault"

// Injector holds one service's faults.
type Injector struct {
	service string
	log     *slog.Logger
	mu      sync.RWMutex
	faults  map[string]contracts.FaultChanged // by handler; "" = every handler
	rand    func() float64
	// handlerName reads the handler's name from a message context (Watermill's router sets it).
	handlerName func(context.Context) string
}

// New returns an injector for service with no faults.
func New(service string, log *slog.Logger) *Injector {
	if log == nil {
		log = slog.Default()
	}
	return &Injector{service: service, log: log, faults: map[string]contracts.FaultChanged{}, rand: rand.Float64,
		handlerName: message.HandlerNameFromCtx}
}

// FromEnv returns an injector set from FAULT_RATE, FAULT_MODE (default
// transient) and FAULT_HANDLER (default every handler).
func FromEnv(service string, log *slog.Logger) (*Injector, error) {
	i := New(service, log)
	rate := os.Getenv("FAULT_RATE")
	if rate == "" {
		return i, nil
	}
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil {
		return nil, fmt.Errorf("FAULT_RATE: %w", err)
	}
	mode := os.Getenv("FAULT_MODE")
	if mode == "" {
		mode = contracts.FaultTransient
	}
	f := contracts.FaultChanged{Service: service, Handler: os.Getenv("FAULT_HANDLER"), FailRate: r, Mode: mode}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("FAULT_RATE/FAULT_MODE: %w", err)
	}
	i.Apply(f)
	return i, nil
}

// Apply sets or clears a fault if it is addressed to this service.
func (i *Injector) Apply(f contracts.FaultChanged) {
	if f.Service != i.service {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if f.Clear {
		i.faults = map[string]contracts.FaultChanged{}
		i.log.Info("faults cleared")
		return
	}
	i.faults[f.Handler] = f
	i.log.Warn("fault injected", "handler", f.Handler, "fail_rate", f.FailRate, "mode", f.Mode)
}

// Active returns the faults in force.
func (i *Injector) Active() []contracts.FaultChanged {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]contracts.FaultChanged, 0, len(i.faults))
	for _, f := range i.faults {
		out = append(out, f)
	}
	return out
}

func (i *Injector) fault(handler string) (contracts.FaultChanged, bool) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if f, ok := i.faults[handler]; ok {
		return f, true
	}
	f, ok := i.faults[""]
	return f, ok
}

// Middleware fails a handler call as the fault for its handler says. Put it
// inside panic recovery (messaging.RouterConfig.Inner), so an injected panic
// is recovered like a real one.
func (i *Injector) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		handler := baseName(i.handlerName(msg.Context()))
		if handler == ControlHandler {
			return h(msg) // faults must never stop their own clearing
		}
		if f, ok := i.fault(handler); ok && f.FailRate > 0 && i.rand() < f.FailRate {
			switch f.Mode {
			case contracts.FaultPanic:
				panic(fmt.Sprintf("injected panic in %s", handler))
			case contracts.FaultPermanent:
				return nil, messaging.Permanent(fmt.Errorf("%w (permanent) in %s", ErrInjected, handler))
			default:
				return nil, fmt.Errorf("%w (transient) in %s", ErrInjected, handler)
			}
		}
		return h(msg)
	}
}

// baseName strips the instance suffix ("book_room#3" is handler "book_room").
func baseName(name string) string {
	for j := len(name) - 1; j >= 0; j-- {
		if name[j] == '#' {
			return name[:j]
		}
	}
	return name
}

// Handle applies a FaultChanged message (the control fanout's handler).
func (i *Injector) Handle(msg *message.Message) error {
	f, err := contracts.Decode[contracts.FaultChanged](msg)
	if err != nil {
		return err
	}
	i.Apply(f)
	return nil
}
