package app

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of a booking request besides the error codes of rejected requests.
const (
	resultAccepted    = "accepted"    // queued, 202
	resultCreated     = "created"     // booked directly, 201
	resultInvalid     = "invalid"     // refused by the booking service (direct mode)
	resultUnavailable = "unavailable" // 503
)

// Metrics are the web tier's own Prometheus metrics: booking requests by
// result and open event streams. HTTP requests themselves are
// measured by httpx.Metrics around the whole mux.
type Metrics struct {
	bookings *prometheus.CounterVec
	streams  prometheus.Gauge
}

// NewMetrics registers the metrics with reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		bookings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_web_booking_requests_total",
			Help: "Booking requests (POST /api/bookings and the booking form) by result: accepted, created, unavailable, or the error code of a rejected request.",
		}, []string{"result"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "staybook_web_event_streams",
			Help: "Booking event streams (Server-Sent Events) open on this replica.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.bookings, m.streams)
	}
	return m
}

func (m *Metrics) booking(result string) { m.bookings.WithLabelValues(result).Inc() }

// StreamOpened and StreamClosed count the open event streams.
func (m *Metrics) StreamOpened() { m.streams.Inc() }

// StreamClosed: see StreamOpened.
func (m *Metrics) StreamClosed() { m.streams.Dec() }
