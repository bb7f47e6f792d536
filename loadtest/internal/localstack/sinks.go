package localstack

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPSink is an SMTP server that accepts every message and counts them by
// booking: the email service's Message-ID is <booking-id@staybook>, so a
// booking mailed twice shows as a count of 2. Lighter than Mailpit (no
// build, no storage) and exact.
type SMTPSink struct {
	server *smtp.Server
	ln     net.Listener
	mu     sync.Mutex
	counts map[string]int
	total  int
}

// StartSMTPSink listens on a free 127.0.0.1 port.
func StartSMTPSink() (*SMTPSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SMTPSink{ln: ln, counts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 20 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.server = srv
	go srv.Serve(ln)
	return s, nil
}

// Addr is the server's host:port (SMTP_ADDR).
func (s *SMTPSink) Addr() string { return s.ln.Addr().String() }

// EmailsFor counts the messages received for a booking.
func (s *SMTPSink) EmailsFor(bookingID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[bookingID]
}

// Total counts every message received.
func (s *SMTPSink) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Close stops the server.
func (s *SMTPSink) Close() {
	s.ln.Close()
	s.server.Close()
}

func (s *SMTPSink) received(data io.Reader) {
	msg, err := mail.ReadMessage(bufio.NewReader(data))
	id := ""
	if err == nil {
		id = strings.TrimSuffix(strings.Trim(msg.Header.Get("Message-Id"), "<> "), "@staybook")
		io.Copy(io.Discard, msg.Body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	if id != "" {
		s.counts[id]++
	}
}

type sinkSession struct{ sink *SMTPSink }

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	ss.sink.received(r)
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

// WebhookSink receives the notification service's webhooks and counts them
// by their Idempotency-Key, "<booking_id>:<event>".
type WebhookSink struct {
	srv    *http.Server
	ln     net.Listener
	mu     sync.Mutex
	counts map[string]int
}

// StartWebhookSink listens on a free 127.0.0.1 port.
func StartWebhookSink() (*WebhookSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &WebhookSink{ln: ln, counts: map[string]int{}}
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.mu.Lock()
		w.counts[r.Header.Get("Idempotency-Key")]++
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go w.srv.Serve(ln)
	return w, nil
}

// URL is the webhook's address (NOTIFY_WEBHOOK_URLS).
func (w *WebhookSink) URL() string { return "http://" + w.ln.Addr().String() + "/webhook" }

// NotificationsFor counts the deliveries of event for a booking.
func (w *WebhookSink) NotificationsFor(bookingID, event string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[bookingID+":"+event]
}

// Close stops the server.
func (w *WebhookSink) Close() { w.srv.Close() }
