package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of POST /api/bookings besides the error codes of rejected requests.
const (
	resultAccepted    = "accepted"    // queued, 202
	resultCreated     = "created"     // booked directly, 201
	resultInvalid     = "invalid"     // refused by the booking service (direct mode)
	resultUnavailable = "unavailable" // 503
)

// Metrics are the API's Prometheus metrics.
type Metrics struct {
	bookings *prometheus.CounterVec
	streams  prometheus.Gauge
	requests *prometheus.HistogramVec
}

// NewMetrics registers the API's metrics with reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		bookings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "staybook_web_booking_requests_total",
			Help: "POST /api/bookings by result: accepted, created, unavailable, or the error code of a rejected request.",
		}, []string{"result"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "staybook_web_event_streams",
			Help: "Booking event streams (Server-Sent Events) open on this replica.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "staybook_http_request_duration_seconds",
			Help:    "HTTP requests by route pattern, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.bookings, m.streams, m.requests)
	}
	return m
}

func (m *Metrics) booking(result string) { m.bookings.WithLabelValues(result).Inc() }

// Instrument measures every request by the route pattern it matched (the
// mux sets it), so that booking IDs do not become label values.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

// statusWriter records the status code; Unwrap keeps http.ResponseController
// (flush, deadlines) working through it.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
