package adapters_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/adapters/smtptest"
	"github.com/staybook/staybook/services/email/internal/domain"
)

// sendTo sends one confirmation to address (booking id = address's user).
func sendTo(t *testing.T, m *adapters.Mailer, address string) error {
	t.Helper()
	return m.Send(context.Background(), outgoing(t, "b-"+strings.Split(address, "@")[0], address))
}

// wantMailsOnce fails unless each address got exactly one mail, and no
// other mail came.
func wantMailsOnce(t *testing.T, srv *smtptest.SMTPServer, addresses ...string) {
	t.Helper()
	mails := srv.Mails()
	for _, a := range addresses {
		if n := len(smtptest.MailsTo(mails, a)); n != 1 {
			t.Errorf("%d mails to %s, want 1", n, a)
		}
	}
	if len(mails) != len(addresses) {
		t.Errorf("%d mails, want %d", len(mails), len(addresses))
	}
}

func TestMailer_SendsSuccessiveEmailsOnOneConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	m := newMailer(t, srv.Addr(), nil)

	for _, to := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
		testkit.Must(t, sendTo(t, m, to))
	}
	wantMailsOnce(t, srv, "ann@example.com", "bob@example.com", "cy@example.com")
	if n, open := srv.Connections(), srv.OpenConnections(); n != 1 || open != 1 {
		t.Errorf("%d connections, %d open; want 1, kept open", n, open)
	}
}

// A server that closed the idle connection (a restart, its idle timeout):
// the next email goes out on a new connection, once, and its send does not
// fail.
func TestMailer_ConnectionTheServerDroppedBetweenEmailsIsReplaced(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	var observed []string
	m := newMailer(t, srv.Addr(), &observed)

	testkit.Must(t, sendTo(t, m, "ann@example.com"))
	srv.DropConnections()
	testkit.Eventually(t, 5*time.Second, "the server dropped the connection", func() bool { return srv.OpenConnections() == 0 })
	if err := sendTo(t, m, "bob@example.com"); err != nil {
		t.Fatalf("send after the drop: %v", err)
	}
	wantMailsOnce(t, srv, "ann@example.com", "bob@example.com")
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	if strings.Join(observed, ",") != "accepted,accepted" {
		t.Errorf("observed %v", observed)
	}
}

// A connection broken in the middle of a send fails that send (transient:
// the handler's retries send it again), is not reused, and the retry goes
// out once on a new connection.
func TestMailer_ConnectionBrokenDuringASendFailsItAndTheRetryConnectsAfresh(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	var observed []string
	m := newMailer(t, srv.Addr(), &observed)

	testkit.Must(t, sendTo(t, m, "ann@example.com"))
	srv.DropNextMessage()
	err := sendTo(t, m, "bob@example.com")
	if err == nil || domain.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if err := sendTo(t, m, "bob@example.com"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	testkit.Must(t, sendTo(t, m, "cy@example.com"))
	wantMailsOnce(t, srv, "ann@example.com", "bob@example.com", "cy@example.com")
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2 (the first until it broke, then one for the rest)", n)
	}
	if strings.Join(observed, ",") != "accepted,transient,accepted,accepted" {
		t.Errorf("observed %v", observed)
	}
}

func TestMailer_ClosesAConnectionIdleForTheIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	m := newMailerWith(t, adapters.MailerConfig{Addr: srv.Addr(), IdleTimeout: 50 * time.Millisecond})

	testkit.Must(t, sendTo(t, m, "ann@example.com"))
	// The server's own idle timeout is a minute: only the mailer ends it sooner.
	testkit.Eventually(t, 10*time.Second, "the idle connection is ended with QUIT", func() bool {
		return srv.Quits() == 1 && srv.OpenConnections() == 0
	})
	testkit.Must(t, sendTo(t, m, "bob@example.com"))
	wantMailsOnce(t, srv, "ann@example.com", "bob@example.com")
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestMailer_CloseEndsTheIdleConnections(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	m := newMailerWith(t, adapters.MailerConfig{Addr: srv.Addr(), MaxIdle: 2, IdleTimeout: time.Hour})

	testkit.Must(t, sendTo(t, m, "ann@example.com"))
	if open := srv.OpenConnections(); open != 1 {
		t.Fatalf("%d connections open after a send, want 1", open)
	}
	testkit.Must(t, m.Close())
	// QUIT: a connection merely dropped by the mailer (or by the garbage
	// collector) would not say it.
	if quits := srv.Quits(); quits != 1 {
		t.Fatalf("%d QUIT after Close, want 1", quits)
	}
	testkit.Eventually(t, 10*time.Second, "the server ends the session", func() bool { return srv.OpenConnections() == 0 })

	// A send after Close still goes out, and its connection is not kept.
	testkit.Must(t, sendTo(t, m, "bob@example.com"))
	if quits := srv.Quits(); quits != 2 {
		t.Errorf("%d QUIT after a send after Close, want 2", quits)
	}
	testkit.Eventually(t, 10*time.Second, "the server ends the session", func() bool { return srv.OpenConnections() == 0 })
	wantMailsOnce(t, srv, "ann@example.com", "bob@example.com")
}

// Senders never wait for a connection: each opens its own when none is
// idle; afterwards only MaxIdle stay open.
func TestMailer_KeepsAtMostMaxIdleConnections(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	m := newMailerWith(t, adapters.MailerConfig{Addr: srv.Addr(), MaxIdle: 1, IdleTimeout: time.Hour})

	release := srv.HoldMessages()
	to := []string{"ann@example.com", "bob@example.com", "cy@example.com"}
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	for i, address := range to {
		wg.Go(func() { errs[i] = sendTo(t, m, address) })
	}
	testkit.Eventually(t, 10*time.Second, "three sends in flight at once", func() bool { return srv.Held() == len(to) })
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("send to %s: %v", to[i], err)
		}
	}
	if quits := srv.Quits(); quits != 2 {
		t.Errorf("%d QUIT, want 2: one connection kept, the two others ended", quits)
	}
	testkit.Eventually(t, 10*time.Second, "one connection left open", func() bool { return srv.OpenConnections() == 1 })

	testkit.Must(t, sendTo(t, m, "dee@example.com"))
	wantMailsOnce(t, srv, append(to, "dee@example.com")...)
	if n := srv.Connections(); n != 3 {
		t.Errorf("%d connections, want 3 (the fourth send reuses the one kept)", n)
	}
}

// A send whose context has ended sends nothing, even with a connection at
// hand, as a send that had to connect would not.
func TestMailer_SendWithAnEndedContextSendsNothing(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	m := newMailer(t, srv.Addr(), nil)
	testkit.Must(t, sendTo(t, m, "ann@example.com"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Send(ctx, outgoing(t, "b-bob", "bob@example.com"))
	if err == nil || domain.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	wantMailsOnce(t, srv, "ann@example.com")
}
