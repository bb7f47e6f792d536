package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewConfirmation_RefusesWhatCannotBeSent(t *testing.T) {
	cases := []struct {
		name, id, email string
		want            error
	}{
		{"empty booking id", "", "guest@example.com", ErrInvalidBooking},
		{"booking id with header characters", "b1>\r\nBcc: x@y", "guest@example.com", ErrInvalidBooking},
		{"booking id with a slash", "../b1", "guest@example.com", ErrInvalidBooking},
		{"empty address", "b1", "", ErrInvalidRecipient},
		{"no at sign", "b1", "guest.example.com", ErrInvalidRecipient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConfirmation(tc.id, "Ann", tc.email, "Hotel", "2026-05-01", "2026-05-03")
			if !errors.Is(err, tc.want) || !IsPermanent(err) {
				t.Fatalf("err = %v, want %v (permanent)", err, tc.want)
			}
			if tc.email != "" && strings.Contains(err.Error(), tc.email) {
				t.Errorf("error %q shows the guest's address", err)
			}
		})
	}
}

func TestNewConfirmation_KeepsTheBareAddressAndOneLineNames(t *testing.T) {
	c, err := NewConfirmation("3f2a9c1e-0000-4000-8000-000000000001", "Ann\r\nBcc: evil@example.com",
		" Ann Lee <ann@example.com> ", "Grand\nHotel", "2026-05-01", "2026-05-03")
	if err != nil {
		t.Fatal(err)
	}
	if c.GuestEmail != "ann@example.com" {
		t.Errorf("GuestEmail = %q", c.GuestEmail)
	}
	if c.GuestName != "Ann Bcc: evil@example.com" || c.HotelName != "Grand Hotel" {
		t.Errorf("names kept line breaks: %q, %q", c.GuestName, c.HotelName)
	}
}

func TestMessageIDAndSubject_DependOnTheBookingAlone(t *testing.T) {
	id := "3f2a9c1e-7b1d-4e2a-9c3b-5d6e7f809a1b"
	c, err := NewConfirmation(id, "Ann", "ann@example.com", "Hotel", "2026-05-01", "2026-05-03")
	if err != nil {
		t.Fatal(err)
	}
	if got := MessageID(id); got != "<"+id+"@staybook>" {
		t.Errorf("MessageID = %q", got)
	}
	if got := c.Subject(); got != "Your Staybook booking 3F2A9C1E" {
		t.Errorf("Subject = %q", got)
	}
	if got := c.AttachmentName(); got != "staybook-voucher-"+id+".pdf" {
		t.Errorf("AttachmentName = %q", got)
	}
	if got := ShortRef("ab"); got != "AB" {
		t.Errorf("ShortRef of a short id = %q", got)
	}
}

func TestBodies_TextIsPlainAndHTMLIsEscaped(t *testing.T) {
	c, err := NewConfirmation("b-1", `Zoë "<b>" O'Neil`, "zoe@example.com", "Hôtel <Le Petit> & Co", "2026-05-01", "2026-05-03")
	if err != nil {
		t.Fatal(err)
	}
	text, err := c.TextBody()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Hôtel <Le Petit> & Co", "2026-05-01", "2026-05-03", "B1", `Zoë "<b>" O'Neil`} {
		if !strings.Contains(text, want) {
			t.Errorf("text body lacks %q:\n%s", want, text)
		}
	}
	html, err := c.HTMLBody()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<Le Petit>") || strings.Contains(html, "<b>") {
		t.Errorf("html body has unescaped markup:\n%s", html)
	}
	for _, want := range []string{"Hôtel &lt;Le Petit&gt; &amp; Co", "Zoë &#34;&lt;b&gt;&#34; O&#39;Neil", "2026-05-03"} {
		if !strings.Contains(html, want) {
			t.Errorf("html body lacks %q:\n%s", want, html)
		}
	}
}

func TestCompose_RefusesAVoucherThatIsNotAPDF(t *testing.T) {
	c, _ := NewConfirmation("b-1", "Ann", "ann@example.com", "Hotel", "2026-05-01", "2026-05-03")
	if _, err := Compose(c, []byte("<html>not found</html>")); !errors.Is(err, ErrInvalidVoucher) {
		t.Fatalf("err = %v", err)
	}
	out, err := Compose(c, []byte("%PDF-1.3 ..."))
	if err != nil || out.MessageID != "<b-1@staybook>" || out.ToAddress != "ann@example.com" || out.AttachmentName != "staybook-voucher-b-1.pdf" {
		t.Fatalf("Compose = %+v, %v", out, err)
	}
}

func TestEmail_SentOnlyAfterMarkSent(t *testing.T) {
	c, _ := NewConfirmation("b-1", "Ann", "ann@example.com", "Hotel", "2026-05-01", "2026-05-03")
	e := NewEmail(c)
	if e.Sent() || e.Status != StatusPending {
		t.Fatal("a new email is sent")
	}
	e.MarkFailed(errors.New("connection refused"))
	if e.Sent() || e.Attempts != 1 || e.LastError != "connection refused" {
		t.Fatalf("after a failure: %+v", e)
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	e.MarkSent(at)
	if !e.Sent() || e.Attempts != 2 || e.LastError != "" || !e.SentAt.Equal(at) {
		t.Fatalf("after the send: %+v", e)
	}
}
