package adapters

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/shared/messaging"
)

// Metrics are the email service's Prometheus metrics.
type Metrics struct {
	sent        prometheus.Counter
	alreadySent prometheus.Counter
	smtpSends   *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	discarded   *prometheus.CounterVec
	redelivered *prometheus.CounterVec
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
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "handler_failed_attempts_total",
			Help: "Message handler attempts that failed (each is retried or dead-lettered).",
		}, []string{"handler"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "messages_dead_lettered_total",
			Help: "Messages sent to dead_letters after their attempts.",
		}, []string{"handler"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "messages_discarded_total",
			Help: "Messages dropped after their attempts.",
		}, []string{"handler"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "staybook", Subsystem: "email", Name: "messages_left_for_redelivery_total",
			Help: "Failed messages left to the broker at shutdown.",
		}, []string{"handler"}),
	}
	m.smtpSends.WithLabelValues(SendAccepted)
	m.smtpSends.WithLabelValues(SendTransient)
	m.smtpSends.WithLabelValues(SendPermanent)
	reg.MustRegister(m.sent, m.alreadySent, m.smtpSends, m.attempts, m.deadLetters, m.discarded, m.redelivered)
	return m
}

// EmailSent counts an email accepted by the SMTP server (app.Observer).
func (m *Metrics) EmailSent() { m.sent.Inc() }

// AlreadySent counts a delivery that found its email sent (app.Observer).
func (m *Metrics) AlreadySent() { m.alreadySent.Inc() }

// SMTPSend counts one SMTP send by result (MailerConfig.Observe).
func (m *Metrics) SMTPSend(result string) { m.smtpSends.WithLabelValues(result).Inc() }

// RouterHooks counts the router's retries, dead letters and discards.
func (m *Metrics) RouterHooks() messaging.Hooks {
	return messaging.Hooks{
		Attempt:     func(handler string, _ int, _ error) { m.attempts.WithLabelValues(handler).Inc() },
		DeadLetter:  func(handler string) { m.deadLetters.WithLabelValues(handler).Inc() },
		Discarded:   func(handler string) { m.discarded.WithLabelValues(handler).Inc() },
		Redelivered: func(handler string) { m.redelivered.WithLabelValues(handler).Inc() },
	}
}
