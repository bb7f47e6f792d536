// Package admin is the web tier's admin API, behind a bearer token
// (ADMIN_TOKEN): the dead-letter console's endpoints, passed on to the
// deadletters service, and a booking's trace, read from Jaeger, on the
// public listener; the fault-injection switches, broadcast to every replica
// of every service on the control fanout, on the internal listener only
// (RegisterInternal). Each calls the operator's use cases (app.Admin).
//
// The token travels in the Authorization header only, never in a cookie, so a
// cross-site page cannot make a browser use it: the admin API needs no CSRF
// token of its own.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/ports/ratelimit"
)

// Error codes of the admin API.
const (
	CodeAdminDisabled          = "admin_disabled"
	CodeUnauthorized           = "unauthorized"
	CodeUnknownService         = "unknown_service"
	CodeDeadLettersUnavailable = "deadletters_unavailable"
	CodeTracesUnavailable      = "traces_unavailable"
	CodeUnavailable            = "unavailable"
	CodeNotFound               = "not_found"
	CodeTooManyFailures        = "too_many_failures"
)

// MaxHandlerBytes bounds a fault's handler name.
const MaxHandlerBytes = 100

// Config configures the admin API.
type Config struct {
	// Token is ADMIN_TOKEN; empty turns the admin API off (503).
	Token string
	// Admin are the operator's use cases.
	Admin *app.Admin
	// VerifyBookingID tells an ID the web tier issued (bookingid.Issuer.Verify).
	VerifyBookingID func(string) bool
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// Failures, if set, limits wrong tokens per client address (told by
	// ClientAddress): a client whose bucket is empty gets 429 for every
	// admin request, right token or not, until it refills, so the token
	// cannot be guessed at the speed of the network.
	Failures      *ratelimit.Buckets
	ClientAddress func(*http.Request) (netip.Addr, bool)
	Logger        *slog.Logger
}

// API serves the admin endpoints.
type API struct {
	cfg  Config
	log  *slog.Logger
	want [sha256.Size]byte
}

// New builds the admin API.
func New(cfg Config) (*API, error) {
	if cfg.Admin == nil || cfg.VerifyBookingID == nil || (cfg.Failures != nil && cfg.ClientAddress == nil) {
		panic("admin: missing dependency")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &API{cfg: cfg, log: cfg.Logger, want: sha256.Sum256([]byte(cfg.Token))}, nil
}

// Register adds the public admin routes to mux, each behind the token.
func (a *API) Register(mux httpx.Router) {
	for _, p := range []string{
		"GET /api/admin/dead-letters",
		"GET /api/admin/dead-letters/{id}",
		"POST /api/admin/dead-letters/{id}/replay",
		"DELETE /api/admin/dead-letters/{id}",
	} {
		mux.Handle(p, a.RequireToken(http.HandlerFunc(a.proxy)))
	}
	mux.Handle("GET /api/admin/bookings/{id}/trace", a.RequireToken(http.HandlerFunc(a.bookingTrace)))
}

// RegisterInternal adds the fault switches, behind the token too, to the
// internal listener's mux: a fault breaks every replica of a service, which
// no one on the public side may do, token or not.
func (a *API) RegisterInternal(mux httpx.Router) {
	mux.Handle("PUT /api/admin/faults/{service}", a.RequireToken(http.HandlerFunc(a.setFault)))
	mux.Handle("DELETE /api/admin/faults/{service}", a.RequireToken(http.HandlerFunc(a.clearFault)))
}

// RequireToken lets a request through only with "Authorization: Bearer
// <ADMIN_TOKEN>". The comparison takes constant time, over SHA-256 digests
// so that not even the token's length leaks. With no token configured every
// request is refused (503): an admin API open to anyone is worse than none.
// A client that sent too many wrong tokens is refused (429) until its
// failure bucket refills (Config.Failures).
func (a *API) RequireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if a.cfg.Token == "" {
			httpx.WriteError(w, http.StatusServiceUnavailable, CodeAdminDisabled, "admin API disabled: ADMIN_TOKEN is not set")
			return
		}
		client, known := netip.Addr{}, false
		if a.cfg.Failures != nil {
			client, known = a.cfg.ClientAddress(r)
		}
		if known && !a.cfg.Failures.Has(client, time.Now()) {
			w.Header().Set("Retry-After", strconv.Itoa(a.cfg.Failures.RetryAfter()))
			httpx.WriteError(w, http.StatusTooManyRequests, CodeTooManyFailures, "too many wrong admin tokens from this address; retry later")
			return
		}
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		gotSum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(gotSum[:], a.want[:]) != 1 {
			if known {
				a.cfg.Failures.Allow(client, time.Now())
				a.log.WarnContext(r.Context(), "admin request with a wrong token", "client", client)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="staybook-admin"`)
			httpx.WriteError(w, http.StatusUnauthorized, CodeUnauthorized, "a valid admin token is required (Authorization: Bearer <ADMIN_TOKEN>)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// proxy passes a dead-letter request to the deadletters service, which
// serves the same path and checks the token again, and its answer back.
func (a *API) proxy(w http.ResponseWriter, r *http.Request) {
	req := app.DeadLetterRequest{Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header}
	if r.Body != nil && r.Method != http.MethodGet {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
		if err != nil {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body must not exceed %d bytes", a.cfg.MaxBodyBytes))
			return
		}
		req.Body = b
	}
	answer, err := a.cfg.Admin.DeadLetters(r.Context(), req)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		httpx.WriteError(w, http.StatusServiceUnavailable, CodeDeadLettersUnavailable, "the deadletters service is not available; retry later")
		return
	}
	defer answer.Body.Close()
	for h, v := range answer.Header {
		w.Header()[h] = v
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(answer.Status)
	if _, err := io.Copy(w, answer.Body); err != nil {
		a.log.DebugContext(r.Context(), "admin proxy: answer cut", "err", err)
	}
}

// FaultRequest is the body of PUT /api/admin/faults/{service}.
type FaultRequest struct {
	FailRate float64 `json:"fail_rate"`
	Mode     string  `json:"mode"`
	// Handler limits the fault to one handler; empty means every handler
	// of the service.
	Handler string `json:"handler"`
}

// setFault is PUT /api/admin/faults/{service}: set a fault on every replica
// of the service.
func (a *API) setFault(w http.ResponseWriter, r *http.Request) {
	service := r.PathValue("service")
	if !a.knownService(w, service) {
		return
	}
	var req FaultRequest
	if err := httpx.DecodeJSON(w, r, &req, a.cfg.MaxBodyBytes); err != nil {
		httpx.WriteRequestError(w, err)
		return
	}
	handler := strings.TrimSpace(req.Handler)
	if len(handler) > MaxHandlerBytes || strings.ContainsFunc(handler, func(c rune) bool { return c > unicode.MaxASCII || !unicode.IsPrint(c) }) {
		httpx.WriteRequestError(w, httpx.FieldError("handler", fmt.Sprintf("handler must be a handler name of at most %d printable ASCII characters", MaxHandlerBytes)))
		return
	}
	f := contracts.FaultChanged{Service: service, Handler: handler, FailRate: req.FailRate, Mode: req.Mode}
	if err := f.Validate(); err != nil {
		field := "mode"
		if strings.HasPrefix(err.Error(), "fail_rate") {
			field = "fail_rate"
		}
		httpx.WriteRequestError(w, httpx.FieldError(field, err.Error()))
		return
	}
	a.broadcast(w, r, f)
}

// clearFault is DELETE /api/admin/faults/{service}: clear every fault of the service.
func (a *API) clearFault(w http.ResponseWriter, r *http.Request) {
	service := r.PathValue("service")
	if !a.knownService(w, service) {
		return
	}
	a.broadcast(w, r, contracts.FaultChanged{Service: service, Clear: true})
}

func (a *API) knownService(w http.ResponseWriter, service string) bool {
	if slices.Contains(app.FaultServices, service) {
		return true
	}
	httpx.WriteJSON(w, http.StatusNotFound, httpx.ErrorBody{Error: httpx.ErrorDetail{
		Code: CodeUnknownService, Field: "service",
		Message: fmt.Sprintf("service %q is not one of %s", service, strings.Join(app.FaultServices, ", ")),
	}})
	return false
}

// broadcast publishes f on the control fanout (every replica of every
// service gets it; the addressed service applies it) and answers 202: the
// replicas apply it as they receive it.
func (a *API) broadcast(w http.ResponseWriter, r *http.Request, f contracts.FaultChanged) {
	if err := a.cfg.Admin.ChangeFault(r.Context(), f); err != nil {
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, http.StatusServiceUnavailable, CodeUnavailable, "the fault change could not be published; retry")
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, f)
}

// bookingTrace is GET /api/admin/bookings/{id}/trace: the booking's spans
// from every service as a waterfall.
func (a *API) bookingTrace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !a.cfg.VerifyBookingID(id) {
		httpx.WriteError(w, http.StatusNotFound, CodeNotFound, "booking not found")
		return
	}
	wf, err := a.cfg.Admin.BookingTrace(r.Context(), id)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		httpx.WriteError(w, http.StatusServiceUnavailable, CodeTracesUnavailable, "Jaeger's query API is not available; retry later")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, wf)
}
