// Package logging builds the slog logger every service uses: JSON by default,
// with the attributes carried by the context (booking ID, message UUID, trace
// ID) added to every line logged with that context.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
)

// New returns a logger writing to stderr in the given format ("json" or "text")
// at the given level ("debug", "info", "warn", "error"), tagged with the service name.
func New(service, level, format string) *slog.Logger {
	return NewWithWriter(os.Stderr, service, level, format)
}

// NewWithWriter is New writing to w (tests capture log lines with it).
func NewWithWriter(w io.Writer, service, level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: ParseLevel(level)}
	var h slog.Handler
	if strings.EqualFold(format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{h}).With("service", service)
}

// ParseLevel maps a LOG_LEVEL value to a slog level; unknown values mean info.
func ParseLevel(level string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return slog.LevelInfo
	}
	return l
}

type ctxKey struct{}

// WithAttrs returns a context whose log lines carry attrs (later values win).
func WithAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(ctxKey{}).([]slog.Attr)
	merged := make([]slog.Attr, 0, len(prev)+len(attrs))
	merged = append(merged, prev...)
	merged = append(merged, attrs...)
	return context.WithValue(ctx, ctxKey{}, merged)
}

// Extractor adds attributes derived from a context, such as the trace ID.
type Extractor func(ctx context.Context) []slog.Attr

var extractors []Extractor

// RegisterExtractor adds an extractor consulted on every log line; call it at
// start-up only (telemetry registers the trace and span IDs this way).
func RegisterExtractor(e Extractor) { extractors = append(extractors, e) }

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if attrs, ok := ctx.Value(ctxKey{}).([]slog.Attr); ok {
			r.AddAttrs(dedupe(attrs)...)
		}
		for _, e := range extractors {
			r.AddAttrs(e(ctx)...)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

func dedupe(attrs []slog.Attr) []slog.Attr {
	seen := make(map[string]int, len(attrs))
	out := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if i, ok := seen[a.Key]; ok {
			out[i] = a
			continue
		}
		seen[a.Key] = len(out)
		out = append(out, a)
	}
	return out
}

// MaskEmail keeps enough of an address to recognise it in logs without
// exposing it: "guest@example.com" becomes "g***@example.com".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}
