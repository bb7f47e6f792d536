// Package smtptest is a test double that speaks the real protocol: an SMTP
// server (go-smtp) that records what it receives and can be stopped and
// restarted on the same port; and ParseMail, which takes a received mail
// apart the way a mail client does. Only tests import it.
package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message the SMTP server accepted.
type Mail struct {
	From string
	To   []string
	Data []byte // the raw message, headers and body
}

// SMTPServer is an in-process SMTP server on 127.0.0.1.
type SMTPServer struct {
	t    testing.TB
	addr string

	mu          sync.Mutex
	server      *smtp.Server
	listener    net.Listener
	mails       []Mail
	connections int
	rejectRcpt  func(to string) bool
}

// StartSMTP starts a server on a free port; it stops when the test ends.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{t: t, addr: "127.0.0.1:0"}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is host:port, the same across restarts.
func (s *SMTPServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// RejectRecipients makes RCPT TO answer 550 for addresses where reject is true.
func (s *SMTPServer) RejectRecipients(reject func(to string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectRcpt = reject
}

// Start listens again on the same address (after Stop), or first on a free port.
func (s *SMTPServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil {
		return
	}
	var (
		ln  net.Listener
		err error
	)
	// The port was ours a moment ago; the kernel may take a moment to free it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err = net.Listen("tcp", s.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("smtp listen on %s: %v", s.addr, err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 20 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.server = srv
	s.listener = ln
	go srv.Serve(ln)
}

// Stop closes the listener and every connection: clients get "connection refused".
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, ln := s.server, s.listener
	s.server, s.listener = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Serve may not have registered the listener yet, so close it here too.
		ln.Close()
		srv.Close()
	}
}

// Mails returns the messages accepted so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Connections counts the SMTP sessions opened so far.
func (s *SMTPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

func (s *SMTPServer) newSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connections++
	return &session{server: s}, nil
}

func (s *SMTPServer) accept(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
}

func (s *SMTPServer) rejects(to string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejectRcpt != nil && s.rejectRcpt(to)
}

type session struct {
	server *SMTPServer
	from   string
	to     []string
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.server.rejects(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: fmt.Sprintf("<%s>: recipient address rejected: user unknown", to)}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	if len(ss.to) == 0 {
		return errors.New("no recipients")
	}
	ss.server.accept(Mail{From: ss.from, To: append([]string(nil), ss.to...), Data: b.Bytes()})
	return nil
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

// MailsTo filters mails by recipient.
func MailsTo(mails []Mail, to string) []Mail {
	var out []Mail
	for _, m := range mails {
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, to) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}
