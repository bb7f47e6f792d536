// Package smtptest is a test double that speaks the real protocol: an SMTP
// server (go-smtp) that records what it receives and the connections it
// serves, can be stopped and restarted on the same port, can drop its
// connections or hold messages; and ParseMail, which takes a received mail
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
	quits       int
	open        map[*smtp.Conn]struct{}
	rejectRcpt  func(to string) bool
	dropNext    bool          // DropNextMessage
	hold        chan struct{} // HoldMessages: closed on release
	held        int           // messages waiting in Data for hold
}

// StartSMTP starts a server on a free port; it stops when the test ends.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{t: t, addr: "127.0.0.1:0", open: map[*smtp.Conn]struct{}{}}
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
	// Longer than any test waits: a connection that ends is one the client
	// closed (or Stop, or DropConnections), not the server's idle timeout.
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 20 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.server = srv
	s.listener = ln
	go srv.Serve(quitCounter{Listener: ln, server: s})
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

// Quits counts the QUIT commands received: connections the client ended
// politely (rather than dropping them, or leaving them open).
func (s *SMTPServer) Quits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quits
}

// OpenConnections counts the SMTP sessions open now.
func (s *SMTPServer) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

// DropConnections closes every open connection at once, without a word to
// the client (a server restarting, or timing idle clients out): it learns
// at its next command.
func (s *SMTPServer) DropConnections() {
	s.mu.Lock()
	conns := make([]*smtp.Conn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close() // Logout takes it out of open
	}
}

// DropNextMessage makes the server read the next message's data and then
// close the connection instead of answering: the message is not accepted,
// and the client sees its connection broken in the middle of a send.
func (s *SMTPServer) DropNextMessage() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext = true
}

// HoldMessages makes every message, once read, wait for release before it
// is accepted (and answered), so that tests can keep several sends in
// flight at once; Held counts those waiting. The test's end releases them
// too.
func (s *SMTPServer) HoldMessages() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hold := make(chan struct{})
	s.hold = hold
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(hold)
		})
	}
	s.t.Cleanup(release)
	return release
}

// Held counts the messages waiting for HoldMessages's release.
func (s *SMTPServer) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

func (s *SMTPServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connections++
	s.open[c] = struct{}{}
	return &session{server: s, conn: c}, nil
}

func (s *SMTPServer) closed(c *smtp.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, c)
}

// received decides what happens to a message just read: drop the
// connection, or accept it, after waiting for a hold to be released.
func (s *SMTPServer) received() (drop bool) {
	s.mu.Lock()
	if s.dropNext {
		s.dropNext = false
		s.mu.Unlock()
		return true
	}
	hold := s.hold
	if hold != nil {
		s.held++
	}
	s.mu.Unlock()
	if hold != nil {
		<-hold
		s.mu.Lock()
		s.held--
		s.mu.Unlock()
	}
	return false
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
	conn   *smtp.Conn
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
	if ss.server.received() {
		ss.conn.Close()
		return errors.New("connection dropped")
	}
	ss.server.accept(Mail{From: ss.from, To: append([]string(nil), ss.to...), Data: b.Bytes()})
	return nil
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error {
	ss.server.closed(ss.conn)
	return nil
}

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

// quitCounter counts the QUIT commands its connections carry (go-smtp does
// not tell the session): it reads the client's lines as the server does.
type quitCounter struct {
	net.Listener
	server *SMTPServer
}

func (l quitCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lineWatcher{Conn: c, server: l.server}, nil
}

// lineWatcher is a server-side connection that looks at each line the
// client sends. Only the server's reading goroutine calls Read.
type lineWatcher struct {
	net.Conn
	server *SMTPServer
	line   []byte // the line read so far
}

func (c *lineWatcher) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			c.keep(rest)
			break
		}
		c.keep(rest[:end])
		if strings.EqualFold(strings.TrimSuffix(string(c.line), "\r"), "QUIT") {
			c.server.mu.Lock()
			c.server.quits++
			c.server.mu.Unlock()
		}
		c.line = c.line[:0]
		rest = rest[end+1:]
	}
	return n, err
}

// keep adds part of a line to what is kept of it: enough to tell QUIT from
// any other line.
func (c *lineWatcher) keep(part []byte) {
	const enough = len("QUIT\r") + 1
	if room := enough - len(c.line); room > 0 {
		c.line = append(c.line, part[:min(room, len(part))]...)
	}
}
