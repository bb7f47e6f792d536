package localstack

import (
	"fmt"
	"net/http"
	"net/smtp"
	"strings"
	"testing"
)

func send(t *testing.T, addr, messageID string) {
	t.Helper()
	msg := fmt.Sprintf("From: bookings@staybook.local\r\nTo: guest@example.com\r\nMessage-ID: <%s>\r\nSubject: Your booking\r\n\r\nHello\r\n", messageID)
	if err := smtp.SendMail(addr, nil, "bookings@staybook.local", []string{"guest@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestSMTPSink_CountsEmailsPerBookingByMessageID(t *testing.T) {
	t.Parallel()
	s, err := StartSMTPSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	send(t, s.Addr(), "b1@staybook")
	send(t, s.Addr(), "b2@staybook")
	send(t, s.Addr(), "b2@staybook")
	if s.EmailsFor("b1") != 1 || s.EmailsFor("b2") != 2 || s.EmailsFor("b3") != 0 || s.Total() != 3 {
		t.Fatalf("b1 %d, b2 %d, b3 %d, total %d", s.EmailsFor("b1"), s.EmailsFor("b2"), s.EmailsFor("b3"), s.Total())
	}
}

func TestWebhookSink_CountsDeliveriesByIdempotencyKey(t *testing.T) {
	t.Parallel()
	w, err := StartWebhookSink()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, w.URL(), strings.NewReader(`{}`))
		req.Header.Set("Idempotency-Key", "b1:BookingConfirmed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if w.NotificationsFor("b1", "BookingConfirmed") != 2 || w.NotificationsFor("b1", "BookingRejected") != 0 {
		t.Fatalf("counts %d %d", w.NotificationsFor("b1", "BookingConfirmed"), w.NotificationsFor("b1", "BookingRejected"))
	}
}
