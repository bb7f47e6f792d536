package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// FaultServices are the services a fault can be set on.
var FaultServices = []string{"web", "booking", "voucher", "email", "notification", "deadletters"}

// Events publishes events on their topics (the kit's cqrs EventBus): a
// FaultChanged goes to the control fanout, which every replica of every
// service receives.
type Events interface {
	Publish(ctx context.Context, event any) error
}

// DeadLetters is the deadletters service's admin API
// (adapters/deadlettersclient), which serves the same paths as the web
// tier's: a request goes through as the operator sent it, bearer token
// included (the deadletters service checks it again).
type DeadLetters interface {
	Forward(ctx context.Context, req DeadLetterRequest) (*DeadLetterAnswer, error)
}

// DeadLetterRequest is an operator's request about dead letters.
type DeadLetterRequest struct {
	Method string
	// Path and EscapedPath are the request's path (/api/admin/dead-letters/...).
	Path, EscapedPath string
	RawQuery          string
	Header            http.Header
	Body              []byte // nil for a GET
}

// DeadLetterAnswer is the deadletters service's answer; the caller closes Body.
type DeadLetterAnswer struct {
	Status int
	Header http.Header
	Body   io.ReadCloser
}

// Traces reads a booking's spans from every service (adapters/jaegerclient).
type Traces interface {
	BookingTrace(ctx context.Context, bookingID string) (*domain.Waterfall, error)
}

// Admin are the operator's use cases: the fault switches (a change goes to
// every replica of every service, and the addressed service applies it),
// the dead letters (kept by the deadletters service) and a booking's trace.
type Admin struct {
	events      Events
	deadLetters DeadLetters
	traces      Traces
	log         *slog.Logger
}

// NewAdmin builds the operator's use cases.
func NewAdmin(events Events, deadLetters DeadLetters, traces Traces, log *slog.Logger) *Admin {
	if events == nil || deadLetters == nil || traces == nil || log == nil {
		panic("app: missing dependency")
	}
	return &Admin{events: events, deadLetters: deadLetters, traces: traces, log: log}
}

// ChangeFault broadcasts f (validated by the caller) and logs who asked.
func (a *Admin) ChangeFault(ctx context.Context, f contracts.FaultChanged) error {
	if err := a.events.Publish(context.WithoutCancel(ctx), f); err != nil {
		a.log.WarnContext(ctx, "fault change not published", "err", err)
		return err
	}
	if f.Clear {
		a.log.InfoContext(ctx, "faults cleared by an operator", "target_service", f.Service)
	} else {
		a.log.WarnContext(ctx, "fault set by an operator", "target_service", f.Service, "handler", f.Handler, "fail_rate", f.FailRate, "mode", f.Mode)
	}
	return nil
}

// DeadLetters passes req to the deadletters service; a change it accepted
// (a replay, a purge) is logged.
func (a *Admin) DeadLetters(ctx context.Context, req DeadLetterRequest) (*DeadLetterAnswer, error) {
	answer, err := a.deadLetters.Forward(ctx, req)
	if err != nil {
		a.log.WarnContext(ctx, "deadletters service unreachable", "path", req.Path, "err", err)
		return nil, err
	}
	if req.Method != http.MethodGet && answer.Status/100 == 2 {
		a.log.InfoContext(ctx, "dead letter changed by an operator", "method", req.Method, "path", req.Path)
	}
	return answer, nil
}

// BookingTrace is the booking's spans from every service as a waterfall.
func (a *Admin) BookingTrace(ctx context.Context, bookingID string) (*domain.Waterfall, error) {
	wf, err := a.traces.BookingTrace(ctx, bookingID)
	if err != nil {
		a.log.WarnContext(ctx, "booking trace not available", "booking_id", bookingID, "err", err)
	}
	return wf, err
}
