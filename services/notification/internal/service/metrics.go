package service

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/staybook/staybook/shared/messaging"

	"github.com/staybook/staybook/services/notification/internal/ports"
)

// metrics are the service's Prometheus metrics, on a registry of its own (so
// that several services can be built in one test process).
type metrics struct {
	registry    *prometheus.Registry
	discarded   *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	failures    *prometheus.CounterVec
	redelivered *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_messages_discarded_total",
			Help: "Messages dropped after their attempts under an on-exhausted policy of discard.",
		}, []string{"handler"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_messages_dead_lettered_total",
			Help: "Messages sent to dead_letters after their attempts or a permanent failure.",
		}, []string{"handler"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_handler_attempts_failed_total",
			Help: "Failed handler attempts, retried or not.",
		}, []string{"handler"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_messages_left_for_redelivery_total",
			Help: "Messages that failed during shutdown and were left on the queue.",
		}, []string{"handler"}),
	}
	// Start every handler's series at 0, so that dashboards and alerts see
	// the series before the first failure.
	for _, h := range ports.HandlerNames {
		for _, c := range []*prometheus.CounterVec{m.discarded, m.deadLetters, m.failures, m.redelivered} {
			c.WithLabelValues(h)
		}
	}
	m.registry.MustRegister(m.discarded, m.deadLetters, m.failures, m.redelivered,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// hooks counts what the router reports.
func (m *metrics) hooks() messaging.Hooks {
	return messaging.Hooks{
		Attempt:     func(handler string, _ int, _ error) { m.failures.WithLabelValues(handler).Inc() },
		DeadLetter:  func(handler string) { m.deadLetters.WithLabelValues(handler).Inc() },
		Discarded:   func(handler string) { m.discarded.WithLabelValues(handler).Inc() },
		Redelivered: func(handler string) { m.redelivered.WithLabelValues(handler).Inc() },
	}
}
