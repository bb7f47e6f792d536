package adapters

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/email/internal/domain"
)

// SMTP_TLS values.
const (
	TLSNone     = "none"     // plain SMTP (Mailpit, a local relay)
	TLSStartTLS = "starttls" // STARTTLS required, usually port 587
	TLSImplicit = "tls"      // TLS from the first byte, usually port 465
)

// Results of a send, as counted by MailerConfig.Observe.
const (
	SendAccepted  = "accepted"
	SendTransient = "transient"
	SendPermanent = "permanent"
)

// MailerConfig configures a Mailer.
type MailerConfig struct {
	// Addr is the SMTP server, host:port (SMTP_ADDR).
	Addr string
	// From is the sender, "Name <address>" or an address (EMAIL_FROM).
	From string
	// Username and Password turn SMTP AUTH on when Username is set.
	Username string
	Password string
	// TLS is TLSNone, TLSStartTLS or TLSImplicit.
	TLS string
	// Timeout bounds the connection and each SMTP command of one send.
	Timeout time.Duration
	// MaxIdle is how many connections are kept open between sends, for the
	// next sends to reuse (1 if 0): one per concurrent sender (EMAIL_WORKERS).
	MaxIdle int
	// IdleTimeout is how long a connection is kept unused before it is
	// closed (DefaultIdleTimeout if 0).
	IdleTimeout time.Duration
	// Observe, if set, is told the result of every send (metrics).
	Observe func(result string)
	Logger  *slog.Logger
}

// DefaultIdleTimeout is how long an unused SMTP connection is kept open:
// long enough to carry a steady trickle of emails, well under the idle
// timeouts of SMTP servers (Postfix's is 300 s; RFC 5321 asks for 5 min).
const DefaultIdleTimeout = 30 * time.Second

// Mailer sends confirmation emails through an SMTP server with go-mail,
// reusing its connections: one idle connection is taken for a send, or one
// is opened, and after a successful send it is kept for the next (go-mail
// sends RSET after each message); after any error it is closed. Close ends
// the idle connections.
type Mailer struct {
	client  *mail.Client
	conns   *idleConnections
	from    *netmail.Address
	host    string
	port    int
	timeout time.Duration
	observe func(string)
	log     *slog.Logger
}

// NewMailer checks cfg and builds a Mailer. It does not connect: the SMTP
// server may be down at start-up, and messages wait for it.
func NewMailer(cfg MailerConfig) (*Mailer, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSNone
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxIdle == 0 {
		cfg.MaxIdle = 1
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxIdle < 0 || cfg.IdleTimeout < 0 {
		return nil, fmt.Errorf("smtp idle connections: %d for %s: must not be negative", cfg.MaxIdle, cfg.IdleTimeout)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("sender %q: %w", cfg.From, err)
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp address %q: bad port", cfg.Addr)
	}
	opts, err := clientOptions(cfg, host, port)
	if err != nil {
		return nil, err
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	m := &Mailer{client: client, from: from, host: host, port: port, timeout: cfg.Timeout, observe: cfg.Observe, log: cfg.Logger}
	m.conns = newIdleConnections(cfg.MaxIdle, cfg.IdleTimeout, m.quit)
	return m, nil
}

// clientOptions are go-mail's options for cfg: port, timeout, TLS, AUTH.
func clientOptions(cfg MailerConfig, host string, port int) ([]mail.Option, error) {
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTimeout(cfg.Timeout),
		mail.WithTLSConfig(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}),
	}
	switch cfg.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	default:
		return nil, fmt.Errorf("smtp tls %q is not %q, %q or %q", cfg.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}
	if cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	return opts, nil
}

// Close ends the idle connections (QUIT). A send after Close still works,
// on a connection of its own that is not kept.
func (m *Mailer) Close() error {
	m.conns.close()
	return nil
}

// Send builds the MIME message (multipart/mixed: a text/plain and text/html
// alternative, then the PDF) and hands it to the SMTP server, on an idle
// connection or a new one. A recipient the server refuses for good (5xx)
// is an error wrapping domain.ErrRecipientRejected; everything else
// (refused or lost connection, 4xx) may pass on retry.
func (m *Mailer) Send(ctx context.Context, e domain.OutgoingEmail) error {
	msg, err := m.message(e)
	if err != nil {
		m.observe(SendPermanent)
		return err
	}
	ctx, span := telemetry.Tracer().Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("server.address", m.host), attribute.Int("server.port", m.port),
			attribute.String("email.message_id", e.MessageID),
		))
	defer span.End()
	err = m.send(ctx, msg, e)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

func (m *Mailer) send(ctx context.Context, msg *mail.Msg, e domain.OutgoingEmail) error {
	err := m.transmit(ctx, msg)
	if err != nil && msg.IsDelivered() {
		// The server accepted the message; only the RSET after it failed.
		// Calling that a failure would send the email again.
		m.log.WarnContext(ctx, "smtp session ended with an error after the email was accepted",
			"err", scrub(err.Error(), e.ToAddress))
		err = nil
	}
	if err == nil {
		m.observe(SendAccepted)
		return nil
	}
	var se *mail.SendError
	if errors.As(err, &se) && se.Reason == mail.ErrSMTPRcptTo && se.ErrorCode()/100 == 5 {
		m.observe(SendPermanent)
		return &sendError{text: "smtp: " + scrub(err.Error(), e.ToAddress), cause: err, kind: domain.ErrRecipientRejected}
	}
	m.observe(SendTransient)
	return &sendError{text: "smtp: " + scrub(err.Error(), e.ToAddress), cause: err}
}

// transmit sends msg on an idle connection, or a new one, and keeps the
// connection for the next send if all went well; after any error it ends
// it, and the next send connects afresh. An idle connection found broken
// before the message (go-mail's NOOP check fails: the server closed it, or
// it broke while idle) is replaced by a new one for the same send: nothing
// of the message went out on it. Any later error fails the send, and the
// caller's retries decide, as for a send on a new connection.
func (m *Mailer) transmit(ctx context.Context, msg *mail.Msg) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send not started: %w", err)
	}
	span := trace.SpanFromContext(ctx)
	if client := m.conns.take(); client != nil {
		err := client.UpdateDeadline(m.timeout) // the last one may have passed while it was idle
		if err == nil {
			err = m.client.SendWithSMTPClient(client, msg)
			var se *mail.SendError
			if !errors.As(err, &se) || se.Reason != mail.ErrConnCheck {
				span.SetAttributes(attribute.Bool("smtp.connection.reused", true))
				return m.release(client, err)
			}
		}
		span.AddEvent("idle smtp connection lost; connecting again")
		m.log.DebugContext(ctx, "idle smtp connection lost; connecting again", "err", err)
		_ = client.Close()
	}
	span.SetAttributes(attribute.Bool("smtp.connection.reused", false))
	dialCtx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	client, err := m.client.DialToSMTPClientWithContext(dialCtx)
	if err != nil {
		return fmt.Errorf("dial failed: %w", err)
	}
	return m.release(client, m.client.SendWithSMTPClient(client, msg))
}

// release keeps client for the next send after a successful one, or ends
// it after err.
func (m *Mailer) release(client *smtp.Client, err error) error {
	if err != nil {
		m.quit(client)
		return fmt.Errorf("send failed: %w", err)
	}
	m.conns.put(client)
	return nil
}

// quit ends a connection: QUIT, within the timeout, then close.
func (m *Mailer) quit(client *smtp.Client) {
	if client.UpdateDeadline(m.timeout) != nil || m.client.CloseWithSMTPClient(client) != nil {
		_ = client.Close()
	}
}

func (m *Mailer) message(e domain.OutgoingEmail) (*mail.Msg, error) {
	msg := mail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.AddToFormat(e.ToName, e.ToAddress); err != nil {
		return nil, fmt.Errorf("%w: %s", domain.ErrInvalidRecipient, scrub(err.Error(), e.ToAddress))
	}
	msg.Subject(e.Subject)
	msg.SetMessageIDWithValue(strings.TrimSuffix(strings.TrimPrefix(e.MessageID, "<"), ">"))
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, e.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	msg.AttachReadSeeker(e.AttachmentName, bytes.NewReader(e.Attachment),
		mail.WithFileContentType(mail.ContentType("application/pdf")))
	return msg, nil
}

// sendError carries an SMTP failure with the guest's address masked in its
// text: errors end up in logs and dead letters, and go-mail and SMTP
// servers quote the recipient.
type sendError struct {
	text  string
	cause error
	kind  error // a domain error, or nil
}

func (e *sendError) Error() string { return e.text }

func (e *sendError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.cause}
}

// scrub masks every occurrence of address in text.
func scrub(text, address string) string {
	if address == "" {
		return text
	}
	re := regexp.MustCompile(`(?i)` + regexp.QuoteMeta(address))
	return re.ReplaceAllLiteralString(text, logging.MaskEmail(address))
}
