package service

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/shared/telemetry"
)

// metrics are the service's own Prometheus metrics (the router adds the
// handler, retry and dead-letter metrics: shared/messaging), on a registry of its own so
// that several instances can live in one process (the tests run replicas).
type metrics struct {
	reg *prometheus.Registry

	renders        prometheus.Counter
	renderFailures prometheus.Counter
	renderSeconds  prometheus.Histogram
	pdfBytes       prometheus.Histogram
	substitutions  *prometheus.CounterVec
	vouchers       *prometheus.CounterVec
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) prometheus.Collector { reg.MustRegister(c); return c }
	return &metrics{
		reg: reg,
		renders: f(prometheus.NewCounter(prometheus.CounterOpts{Namespace: "staybook", Subsystem: "voucher",
			Name: "renders_total", Help: "Vouchers rendered as PDF."})).(prometheus.Counter),
		renderFailures: f(prometheus.NewCounter(prometheus.CounterOpts{Namespace: "staybook", Subsystem: "voucher",
			Name: "render_failures_total", Help: "Renders that failed or were cancelled."})).(prometheus.Counter),
		renderSeconds: f(prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "staybook", Subsystem: "voucher",
			Name: "render_duration_seconds", Help: "Time to render one voucher, extra latency included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)})).(prometheus.Histogram),
		pdfBytes: f(prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "staybook", Subsystem: "voucher",
			Name: "pdf_size_bytes", Help: "Size of rendered vouchers.",
			Buckets: prometheus.ExponentialBuckets(4096, 2, 8)})).(prometheus.Histogram),
		substitutions: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "staybook", Subsystem: "voucher",
			Name: "text_substitutions_total", Help: "Characters the font lacks, by what was printed instead (transliterated, replaced)."},
			[]string{"kind"})).(*prometheus.CounterVec),
		vouchers: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "staybook", Subsystem: "voucher",
			Name: "requests_total", Help: "Voucher requests, by outcome: created, or existing (a redelivery or a repeated call)."},
			[]string{"outcome"})).(*prometheus.CounterVec),
	}
}

func (m *metrics) onSubstitution(transliterated, replaced int) {
	m.substitutions.WithLabelValues("transliterated").Add(float64(transliterated))
	m.substitutions.WithLabelValues("replaced").Add(float64(replaced))
}

func (m *metrics) onOutcome(created bool) {
	if created {
		m.vouchers.WithLabelValues("created").Inc()
	} else {
		m.vouchers.WithLabelValues("existing").Inc()
	}
}

// measuredRenderer counts and times the renders of the renderer it wraps.
type measuredRenderer struct {
	next app.Renderer
	m    *metrics
}

func (r measuredRenderer) Render(ctx context.Context, v domain.Voucher) ([]byte, error) {
	ctx, span := telemetry.Tracer().Start(ctx, "render voucher pdf", trace.WithAttributes(telemetry.BookingIDKey.String(v.BookingID)))
	defer span.End()
	start := time.Now()
	doc, err := r.next.Render(ctx, v)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		r.m.renderFailures.Inc()
		return nil, err
	}
	span.SetAttributes(attribute.Int("pdf.size_bytes", len(doc)))
	r.m.renders.Inc()
	r.m.renderSeconds.Observe(time.Since(start).Seconds())
	r.m.pdfBytes.Observe(float64(len(doc)))
	return doc, nil
}
