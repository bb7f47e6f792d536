package service

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/outbox"
)

// metrics are the booking service's own Prometheus metrics.
type metrics struct {
	reg         *prometheus.Registry
	bookings    *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	discarded   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		bookings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_bookings_total", Help: "BookRoom commands settled, by outcome (duplicates not counted).",
		}, []string{"status", "reason"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_handler_failures_total", Help: "Failed handler attempts (each may be retried).",
		}, []string{"handler"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_messages_dead_lettered_total", Help: "Messages sent to dead_letters.",
		}, []string{"handler"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_messages_discarded_total", Help: "Messages dropped after their attempts (non-critical work).",
		}, []string{"handler"}),
	}
	reg.MustRegister(m.bookings, m.attempts, m.deadLetters, m.discarded)
	return m
}

func (m *metrics) settled(status, reason string, created bool) {
	if created {
		m.bookings.WithLabelValues(status, reason).Inc()
	}
}

func (m *metrics) hooks() messaging.Hooks {
	return messaging.Hooks{
		Attempt:    func(h string, _ int, _ error) { m.attempts.WithLabelValues(h).Inc() },
		DeadLetter: func(h string) { m.deadLetters.WithLabelValues(h).Inc() },
		Discarded:  func(h string) { m.discarded.WithLabelValues(h).Inc() },
	}
}

// watchOutbox exports the outbox backlog, read when /metrics is scraped.
func (m *metrics) watchOutbox(pool *pgxpool.Pool) {
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "staybook_outbox_lag_seconds", Help: "Age of the oldest event waiting in the outbox.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d, _, err := outbox.Lag(ctx, pool)
		if err != nil {
			return -1
		}
		return d.Seconds()
	})
	m.reg.MustRegister(lag)
}
