package adapters

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/shared/telemetry"
)

// Metrics are the voucher service's own Prometheus metrics (the kit adds
// the handler, retry, dead-letter, publish and HTTP metrics).
type Metrics struct {
	renders        prometheus.Counter
	renderFailures prometheus.Counter
	renderSeconds  prometheus.Histogram
	pdfBytes       prometheus.Histogram
	substitutions  *prometheus.CounterVec
	vouchers       *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "staybook", "voucher"
	m := &Metrics{
		renders: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "renders_total", Help: "Vouchers rendered as PDF."}),
		renderFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "render_failures_total", Help: "Renders that failed or were cancelled."}),
		renderSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "render_duration_seconds", Help: "Time to render one voucher, extra latency included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		pdfBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "pdf_size_bytes", Help: "Size of rendered vouchers.",
			Buckets: prometheus.ExponentialBuckets(4096, 2, 8)}),
		substitutions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "text_substitutions_total", Help: "Characters the font lacks, by what was printed instead (transliterated, replaced)."},
			[]string{"kind"}),
		vouchers: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "Voucher requests, by outcome: created, or existing (a redelivery or a repeated call)."},
			[]string{"outcome"}),
	}
	reg.MustRegister(m.renders, m.renderFailures, m.renderSeconds, m.pdfBytes, m.substitutions, m.vouchers)
	return m
}

// OnSubstitution counts the runes of a voucher the fonts lack (pdf.Config.OnSubstitution).
func (m *Metrics) OnSubstitution(transliterated, replaced int) {
	m.substitutions.WithLabelValues("transliterated").Add(float64(transliterated))
	m.substitutions.WithLabelValues("replaced").Add(float64(replaced))
}

// OnOutcome counts a voucher request by outcome (app.Config.OnOutcome).
func (m *Metrics) OnOutcome(created bool) {
	if created {
		m.vouchers.WithLabelValues("created").Inc()
	} else {
		m.vouchers.WithLabelValues("existing").Inc()
	}
}

// MeasuredRenderer counts, times and traces the renders of next: all that
// next does is measured (the demo's extra latency too, when next adds it).
func (m *Metrics) MeasuredRenderer(next app.Renderer) app.Renderer {
	return measuredRenderer{next: next, m: m}
}

type measuredRenderer struct {
	next app.Renderer
	m    *Metrics
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
