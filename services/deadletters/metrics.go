package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/services/deadletters/internal/domain"
)

// Counter is a Repository.Counts: letters by status.
type Counter interface {
	Counts(ctx context.Context) (map[string]int, error)
}

// metrics are the deadletters service's own Prometheus metrics (the
// router's attempts are counted in shared/messaging, the outbox's lag by
// servicekit's ForwardOutbox).
type metrics struct {
	stored *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, counter Counter) *metrics {
	m := &metrics{
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_dead_letters_stored_total",
			Help: "Dead letters received, by outcome: new (first failure), failed_again (a replay failed), duplicate (a delivery already stored), and by the handler that failed.",
		}, []string{"outcome", "handler"}),
	}
	reg.MustRegister(m.stored, &letterGauge{counter: counter, desc: prometheus.NewDesc(
		"staybook_dead_letters", "Dead letters stored, by status (read from the database at every scrape).", []string{"status"}, nil)})
	return m
}

func (m *metrics) letterStored(l domain.Letter, outcome domain.Outcome) {
	m.stored.WithLabelValues(string(outcome), l.Handler).Inc()
}

// letterGauge reads the counts by status when /metrics is scraped, so every
// replica reports the same truth, whichever stored the letters.
type letterGauge struct {
	counter Counter
	desc    *prometheus.Desc
}

func (g *letterGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *letterGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := g.counter.Counts(ctx)
	if err != nil {
		return // the database is down: /readyz says so; the rest of /metrics still answers
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), status)
	}
}
