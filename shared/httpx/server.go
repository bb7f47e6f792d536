// Package httpx holds the HTTP plumbing every service shares: a server with
// graceful shutdown, liveness and readiness endpoints, JSON bodies and errors,
// and request size limits.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	Addr            string
	Handler         http.Handler
	Logger          *slog.Logger
	ShutdownTimeout time.Duration // how long in-flight requests may take to finish
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration // 0 keeps long-lived responses (SSE) open
}

// Server is an http.Server that listens at once (so ":0" gives a known port)
// and shuts down gracefully when its context ends.
type Server struct {
	cfg ServerConfig
	srv *http.Server
	ln  net.Listener
}

// NewServer binds the listener; Serve starts answering.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Handler == nil {
		panic("httpx: nil handler")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 15 * time.Second
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return &Server{cfg: cfg, srv: srv, ln: ln}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// RegisterOnShutdown runs f when shutdown starts (long-lived streams close themselves with it).
func (s *Server) RegisterOnShutdown(f func()) { s.srv.RegisterOnShutdown(f) }

// Serve answers requests until ctx ends, then stops accepting connections and
// waits up to ShutdownTimeout for in-flight requests.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.cfg.Logger.Info("http server listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		s.srv.Close()
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}
