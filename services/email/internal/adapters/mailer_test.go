package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/adapters/smtptest"
	"github.com/staybook/staybook/services/email/internal/adapters/vouchertest"
	"github.com/staybook/staybook/services/email/internal/domain"
)

func newMailer(t *testing.T, addr string, observed *[]string) *adapters.Mailer {
	t.Helper()
	return newMailerWith(t, adapters.MailerConfig{
		Addr: addr,
		Observe: func(r string) {
			if observed != nil {
				*observed = append(*observed, r)
			}
		},
	})
}

// newMailerWith builds a mailer from cfg, with the test's sender and a
// short timeout unless set; it is closed when the test ends.
func newMailerWith(t *testing.T, cfg adapters.MailerConfig) *adapters.Mailer {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Staybook <bookings@staybook.local>"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	m, err := adapters.NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func outgoing(t *testing.T, id, email string) domain.OutgoingEmail {
	t.Helper()
	c, err := domain.NewConfirmation(id, "Zoë Lee", email, "Hôtel <Le Petit> & Co", "2026-05-01", "2026-05-03")
	if err != nil {
		t.Fatal(err)
	}
	out, err := domain.Compose(c, vouchertest.VoucherPDF(t, id))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMailer_SendsTextAndHTMLAlternativesAndThePDFUnderTheBookingsMessageID(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	var observed []string
	m := newMailer(t, srv.Addr(), &observed)
	id := "3f2a9c1e-7b1d-4e2a-9c3b-5d6e7f809a1b"
	out := outgoing(t, id, "zoe@example.com")

	if err := m.Send(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d mails received", len(mails))
	}
	if mails[0].From != "bookings@staybook.local" || len(mails[0].To) != 1 || mails[0].To[0] != "zoe@example.com" {
		t.Errorf("envelope from %q to %v", mails[0].From, mails[0].To)
	}
	p := smtptest.ParseMail(t, mails[0].Data)
	if got := p.Header.Get("Message-Id"); got != "<"+id+"@staybook>" {
		t.Errorf("Message-ID = %q", got)
	}
	if subj, _ := p.Header.Subject(); subj != "Your Staybook booking 3F2A9C1E" {
		t.Errorf("Subject = %q", subj)
	}
	to, err := p.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Zoë Lee" || to[0].Address != "zoe@example.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	from, err := p.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Staybook" || from[0].Address != "bookings@staybook.local" {
		t.Errorf("From = %v, %v", from, err)
	}
	if len(p.Text) != 1 || !strings.Contains(p.Text[0], "Hôtel <Le Petit> & Co") {
		t.Errorf("text parts %q", p.Text)
	}
	if len(p.HTML) != 1 || !strings.Contains(p.HTML[0], "Hôtel &lt;Le Petit&gt; &amp; Co") {
		t.Errorf("html parts %q", p.HTML)
	}
	if len(p.Attachments) != 1 {
		t.Fatalf("%d attachments", len(p.Attachments))
	}
	a := p.Attachments[0]
	if a.Filename != "staybook-voucher-"+id+".pdf" || a.ContentType != "application/pdf" || !bytes.Equal(a.Data, out.Attachment) {
		t.Errorf("attachment %q %q, %d bytes (want %d)", a.Filename, a.ContentType, len(a.Data), len(out.Attachment))
	}
	if len(observed) != 1 || observed[0] != adapters.SendAccepted {
		t.Errorf("observed %v", observed)
	}
}

func TestMailer_RecipientRefusedForGoodIsPermanentAndTheErrorMasksTheAddress(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	srv.RejectRecipients(func(to string) bool { return strings.HasPrefix(to, "nobody@") })
	var observed []string
	m := newMailer(t, srv.Addr(), &observed)

	err := m.Send(context.Background(), outgoing(t, "b-rejected", "nobody@example.com"))
	if !errors.Is(err, domain.ErrRecipientRejected) || !domain.IsPermanent(err) {
		t.Fatalf("err = %v, want ErrRecipientRejected", err)
	}
	if strings.Contains(err.Error(), "nobody@example.com") || !strings.Contains(err.Error(), "n***@example.com") {
		t.Errorf("error text does not mask the address: %q", err)
	}
	if len(srv.Mails()) != 0 || len(observed) != 1 || observed[0] != adapters.SendPermanent {
		t.Errorf("mails %d, observed %v", len(srv.Mails()), observed)
	}
}

func TestMailer_ServerDownIsTransient(t *testing.T) {
	t.Parallel()
	srv := smtptest.StartSMTP(t)
	srv.Stop()
	var observed []string
	m := newMailer(t, srv.Addr(), &observed)

	err := m.Send(context.Background(), outgoing(t, "b-down", "ann@example.com"))
	if err == nil || domain.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	srv.Start()
	if err := m.Send(context.Background(), outgoing(t, "b-down", "ann@example.com")); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if len(srv.Mails()) != 1 || strings.Join(observed, ",") != "transient,accepted" {
		t.Errorf("mails %d, observed %v", len(srv.Mails()), observed)
	}
}

func TestNewMailer_RefusesBadSettings(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]adapters.MailerConfig{
		"no port":       {Addr: "localhost", From: "a@b.c"},
		"bad from":      {Addr: "localhost:25", From: "not an address"},
		"bad tls":       {Addr: "localhost:25", From: "a@b.c", TLS: "ssl"},
		"negative idle": {Addr: "localhost:25", From: "a@b.c", MaxIdle: -1},
	} {
		if _, err := adapters.NewMailer(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
