package adapters

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the email service's own Prometheus metrics (the router adds
// the handler, retry and dead-letter metrics: shared/messaging).
type Metrics struct {
	sent        prometheus.Counter
	alreadySent prometheus.Counter
	smtpSends   *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "emails_sent_total",
			Help: "Confirmation emails accepted by the SMTP server.",
		}),
		alreadySent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "emails_already_sent_total",
			Help: "Deliveries of a booking whose email had been sent before (not sent again).",
		}),
		smtpSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "smtp_sends_total",
			Help: "SMTP send attempts by result: accepted, transient or permanent failure.",
		}, []string{"result"}),
	}
	m.smtpSends.WithLabelValues(SendAccepted)
	m.smtpSends.WithLabelValues(SendTransient)
	m.smtpSends.WithLabelValues(SendPermanent)
	reg.MustRegister(m.sent, m.alreadySent, m.smtpSends)
	return m
}

// EmailSent counts an email accepted by the SMTP server (app.Observer).
func (m *Metrics) EmailSent() { m.sent.Inc() }

// AlreadySent counts a delivery that found its email sent (app.Observer).
func (m *Metrics) AlreadySent() { m.alreadySent.Inc() }

// SMTPSend counts one SMTP send by result (MailerConfig.Observe).
func (m *Metrics) SMTPSend(result string) { m.smtpSends.WithLabelValues(result).Inc() }
