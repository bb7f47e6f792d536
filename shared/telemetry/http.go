package telemetry

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TraceparentHeader is the W3C header that carries a trace context; the
// services also send it back on every traced answer, so that a client (a
// browser's developer tools, curl, the load test) learns the trace ID of
// its request and can open the trace in Jaeger.
const TraceparentHeader = "traceparent"

// HTTPHandler traces every request h serves (a server span per request,
// continuing the caller's trace from its traceparent header), answers with
// the request's own traceparent header, and marks the span synthetic when
// the caller's baggage says so (SyntheticBaggage).
func HTTPHandler(h http.Handler, service string) http.Handler {
	return otelhttp.NewHandler(traceResponse(h), service,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Pattern
			}
			return r.Method + " " + r.URL.Path
		}),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}

// traceResponse writes the server span's context into the answer's
// traceparent header before h writes anything.
func traceResponse(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if span := trace.SpanFromContext(ctx); span.SpanContext().IsValid() {
			propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(w.Header()))
			markSynthetic(ctx, span)
		}
		h.ServeHTTP(w, r)
	})
}

// TraceID is the trace ID of ctx's span as 32 hex digits, "" without one.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}

// HTTPClient is an HTTP client whose requests carry the trace context and
// are traced as client spans.
func HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: otelhttp.NewTransport(http.DefaultTransport)}
}
