package app

import (
	"context"
	"log/slog"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// FaultServices are the services a fault can be set on (the admin API's
// PUT /api/admin/faults/{service} and the console's form).
var FaultServices = []string{"web", "booking", "voucher", "email", "notification", "deadletters"}

// Control carries fault changes to every replica of every service (the
// control fanout: adapters.ControlPublisher).
type Control interface {
	Broadcast(ctx context.Context, f contracts.FaultChanged) error
}

// Faults are the operator's fault switches: a change goes to every replica
// of every service, and the addressed service applies it.
type Faults struct {
	control Control
	log     *slog.Logger
}

// NewFaults builds the fault switches.
func NewFaults(control Control, log *slog.Logger) *Faults {
	if control == nil || log == nil {
		panic("app: missing dependency")
	}
	return &Faults{control: control, log: log}
}

// Change broadcasts f (validated by the caller) and logs who asked.
func (x *Faults) Change(ctx context.Context, f contracts.FaultChanged) error {
	if err := x.control.Broadcast(context.WithoutCancel(ctx), f); err != nil {
		x.log.WarnContext(ctx, "fault change not published", "err", err)
		return err
	}
	if f.Clear {
		x.log.InfoContext(ctx, "faults cleared by an operator", "target_service", f.Service)
	} else {
		x.log.WarnContext(ctx, "fault set by an operator", "target_service", f.Service, "handler", f.Handler, "fail_rate", f.FailRate, "mode", f.Mode)
	}
	return nil
}

// Traces reads a booking's spans from every service (adapters/jaegerclient).
type Traces interface {
	BookingTrace(ctx context.Context, bookingID string) (*domain.Waterfall, error)
}
