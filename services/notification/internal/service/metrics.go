package service

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the service's Prometheus registry, its own (so that several
// services can be built in one test process). The router adds the handler,
// retry, dead-letter and discard metrics (shared/messaging).
type metrics struct {
	registry *prometheus.Registry
}

func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
