package service

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/shared/outbox"
)

// metrics are the booking service's own Prometheus metrics (the router's
// retries, dead letters and discards are counted in shared/messaging).
type metrics struct {
	bookings *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, pool *pgxpool.Pool) *metrics {
	m := &metrics{
		bookings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_bookings_total", Help: "BookRoom commands settled, by outcome (duplicates not counted).",
		}, []string{"status", "reason"}),
	}
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
	reg.MustRegister(m.bookings, lag)
	return m
}

func (m *metrics) settled(status, reason string, created bool) {
	if created {
		m.bookings.WithLabelValues(status, reason).Inc()
	}
}
