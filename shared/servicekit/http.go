package servicekit

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/telemetry"
)

// listen binds the public listener (HTTP_ADDR), the internal one
// (INTERNAL_ADDR, or METRICS_ADDR when that alone is set) and, when
// METRICS_ADDR is set to an address of its own besides, a listener for
// /metrics alone. /metrics is on the public listener unless METRICS_ADDR
// moves it. The public server answers with the handler seal builds at Run,
// once every route and middleware is in.
func (s *Service) listen() (err error) {
	cfg := s.Config
	metrics := promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{Registry: s.Metrics})
	httpx.HandleHealthOf(s.publicMux, s.currentChecks)
	internalAddr := cfg.InternalAddr
	if internalAddr == "" {
		internalAddr = cfg.MetricsAddr
	}
	if internalAddr != "" && internalAddr != cfg.HTTPAddr {
		s.internalMux = internalMux(metrics)
		if s.internal, err = s.newServer(internalAddr, s.internalMux); err != nil {
			return fmt.Errorf("INTERNAL_ADDR: %w", err)
		}
	}
	switch cfg.MetricsAddr {
	case "", cfg.HTTPAddr:
		s.publicMux.Handle("GET /metrics", metrics)
	case internalAddr:
	default:
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics)
		if s.metricsOnly, err = s.newServer(cfg.MetricsAddr, mux); err != nil {
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
	}
	s.public, err = httpx.NewServer(httpx.ServerConfig{
		Addr: cfg.HTTPAddr, Logger: s.Log, ShutdownTimeout: cfg.ShutdownTimeout, WriteTimeout: s.opts.HTTPWriteTimeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }),
	})
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	return nil
}

func (s *Service) newServer(addr string, h http.Handler) (*httpx.Server, error) {
	return httpx.NewServer(httpx.ServerConfig{Addr: addr, Handler: h, Logger: s.Log, ShutdownTimeout: s.Config.ShutdownTimeout})
}

// internalMux is the internal listener's: metrics and the Go profiler,
// never on the public listener.
func internalMux(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// Mux is the public listener's router: register the service's routes on it.
// GET /healthz, /readyz (and /metrics, without an internal listener) are
// already there.
func (s *Service) Mux() *httpx.Mux { return s.publicMux }

// UseHTTP adds public middleware, inside tracing, metrics and panic
// recovery, outside the routes (the web tier's security headers and rate
// limit). Call it before Run.
func (s *Service) UseHTTP(mw ...func(http.Handler) http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.middleware = append(s.middleware, mw...)
}

// seal builds the public handler: tracing outermost; the metrics middleware
// inside it sees the request the mux fills with its route pattern.
func (s *Service) seal() {
	s.sealOnce.Do(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		chain := append([]func(http.Handler) http.Handler{httpx.NewMetrics(s.Metrics).Middleware, httpx.Recover(s.Log)}, s.middleware...)
		s.handler = telemetry.HTTPHandler(httpx.Chain(s.publicMux, chain...), s.Name)
		if len(s.backlog) > 0 {
			messagingQueueBacklog(s)
		}
	})
}

// Handler is the public handler, as Run serves it (tests call it without a listener).
func (s *Service) Handler() http.Handler {
	s.seal()
	return s.handler
}

// InternalMux is the internal listener's router, for operator endpoints
// that must never be public (the web tier's fault control); nil when there
// is no internal listener (INTERNAL_ADDR and METRICS_ADDR empty).
// Register before Run.
func (s *Service) InternalMux() *http.ServeMux { return s.internalMux }

// Addr is the public listener's address.
func (s *Service) Addr() string { return s.public.Addr() }

// InternalAddr is the internal listener's address, or "" without one
// (INTERNAL_ADDR and METRICS_ADDR empty).
func (s *Service) InternalAddr() string {
	if s.internal == nil {
		return ""
	}
	return s.internal.Addr()
}

// RegisterOnShutdown runs f when the public server starts shutting down
// (long-lived streams close themselves with it).
func (s *Service) RegisterOnShutdown(f func()) { s.public.RegisterOnShutdown(f) }
