package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/servicekit/kittest"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters/smtptest"
	"github.com/staybook/staybook/services/email/internal/adapters/vouchertest"
)

// harness runs the email service on a vhost and a database of its own, with
// an SMTP server and a voucher service of its own.
type harness struct {
	t        *testing.T
	amqpURL  string
	baseURL  string
	smtp     *smtptest.SMTPServer
	vouchers *vouchertest.VoucherService
	pub      *messaging.Publisher
	topology messaging.Topology
	logs     *testkit.Buffer
	sent     <-chan contracts.ConfirmationEmailSent // what the notification service would receive
}

// testPolicy keeps retries short: 3 attempts, 20/40 ms apart.
func testPolicy() messaging.RetryPolicy {
	p := DefaultRetryPolicy()
	p.MaxAttempts = 3
	p.InitialInterval = 20 * time.Millisecond
	p.MaxInterval = 100 * time.Millisecond
	p.Timeout = 10 * time.Second
	p.MaxElapsed = 30 * time.Second
	return p
}

func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		t: t, amqpURL: testkit.Vhost(t), smtp: smtptest.StartSMTP(t), vouchers: vouchertest.StartVoucherService(t),
		logs: &testkit.Buffer{},
	}
	cfg := DefaultConfig()
	h.topology = messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AMQPURL = h.amqpURL
	cfg.DatabaseURL = testkit.Database(t)
	cfg.SMTPAddr = h.smtp.Addr()
	cfg.SMTPTimeout = 2 * time.Second
	cfg.VoucherURL = h.vouchers.URL
	cfg.VoucherTimeout = 2 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.AMQPConnectTimeout = 20 * time.Second
	cfg.Retry = testPolicy()
	log := logging.NewWithWriter(h.logs, Name, "info", "json")

	svc := kittest.Start(t, program, cfg, log)
	h.baseURL = "http://" + svc.Addr()

	conn := messagingtest.Connect(t, h.amqpURL, "test", log)
	h.pub = messagingtest.Publisher(t, conn, messaging.PublisherConfig{Topology: h.topology, Timeout: 5 * time.Second, Logger: log})
	h.sent = decoded[contracts.ConfirmationEmailSent](t, h.subscribe(messaging.SubscriptionQueue(messaging.EventConfirmationEmailSent, "notification")))
	return h
}

// subscribe consumes a durable queue of the topology (acking everything).
func (h *harness) subscribe(queue string) <-chan *message.Message {
	h.t.Helper()
	conn, err := messaging.Connect(context.Background(), h.amqpURL, "test-consume", logging.New("test", "error", "json"))
	testkit.Must(h.t, err)
	h.t.Cleanup(func() { conn.Close() })
	sub, err := messaging.NewQueueSubscriber(conn, messaging.SubscriberConfig{Topology: h.topology})
	testkit.Must(h.t, err)
	h.t.Cleanup(func() { sub.Close() })
	msgs, err := sub.Subscribe(testkit.Context(h.t), queue)
	testkit.Must(h.t, err)
	out := make(chan *message.Message, 100)
	go func() {
		for m := range msgs {
			m.Ack()
			out <- m
		}
	}()
	return out
}

func decoded[T contracts.Contract](t *testing.T, msgs <-chan *message.Message) <-chan T {
	out := make(chan T, 100)
	go func() {
		for m := range msgs {
			v, err := contracts.Decode[T](m)
			if err != nil {
				t.Errorf("decode: %v", err)
				continue
			}
			out <- v
		}
	}()
	return out
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30s", what)
		panic("unreachable")
	}
}

// voucherCreated registers the booking's voucher with the fake voucher
// service (404 for the first notYet requests) and returns the event.
func (h *harness) voucherCreated(id, email string, notYet int) (contracts.VoucherCreated, []byte) {
	pdf := vouchertest.VoucherPDF(h.t, id)
	h.vouchers.Add(id, pdf, notYet)
	return contracts.VoucherCreated{
		BookingID: id, GuestName: "Zoë Lee", GuestEmail: email, HotelName: "Hôtel <Le Petit> & Co",
		CheckIn: "2026-05-01", CheckOut: "2026-05-03", VoucherURL: h.vouchers.URL + "/internal/vouchers/" + id + ".pdf",
		SizeBytes: len(pdf), CreatedAt: time.Now().UTC(),
	}, pdf
}

func (h *harness) publish(ev contracts.VoucherCreated) *message.Message {
	h.t.Helper()
	msg, err := contracts.NewMessage(context.Background(), ev, ev.BookingID)
	testkit.Must(h.t, err)
	testkit.Must(h.t, h.pub.Publish(messaging.EventTopic(messaging.EventVoucherCreated), msg))
	return msg
}

func (h *harness) get(path string) (int, []byte) {
	h.t.Helper()
	resp, err := http.Get(h.baseURL + path)
	testkit.Must(h.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// metric reads one series from GET /metrics, 0 if absent.
func (h *harness) metric(series string) float64 {
	h.t.Helper()
	code, body := h.get("/metrics")
	if code != http.StatusOK {
		h.t.Fatalf("/metrics: %d", code)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			testkit.Must(h.t, err)
			return f
		}
	}
	return 0
}

// noUnmaskedEmail checks that the service never logged the address.
func (h *harness) noUnmaskedEmail(email string) {
	h.t.Helper()
	if logs := h.logs.String(); strings.Contains(logs, email) {
		h.t.Errorf("the logs show %s unmasked:\n%s", email, logs)
	}
}

func TestVoucherCreated_SendsOneEmailToTheGuestWithTheVoucherAttached(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := "3f2a9c1e-7b1d-4e2a-9c3b-5d6e7f809a1b"
	ev, pdf := h.voucherCreated(id, "zoe@example.com", 0)
	h.publish(ev)

	sent := receive(t, h.sent, "ConfirmationEmailSent")
	if sent.BookingID != id || sent.MessageID != "<"+id+"@staybook>" || sent.GuestEmail != "zoe@example.com" ||
		sent.GuestName != "Zoë Lee" || sent.SentAt.IsZero() {
		t.Errorf("ConfirmationEmailSent = %+v", sent)
	}
	mails := h.smtp.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d emails sent, want 1", len(mails))
	}
	if len(mails[0].To) != 1 || mails[0].To[0] != "zoe@example.com" {
		t.Errorf("envelope recipients %v", mails[0].To)
	}
	p := smtptest.ParseMail(t, mails[0].Data)
	if got := p.Header.Get("Message-Id"); got != "<"+id+"@staybook>" {
		t.Errorf("Message-ID = %q", got)
	}
	if subj, _ := p.Header.Subject(); subj != "Your Staybook booking 3F2A9C1E" {
		t.Errorf("Subject = %q", subj)
	}
	to, err := p.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "zoe@example.com" || to[0].Name != "Zoë Lee" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if from, _ := p.Header.AddressList("From"); len(from) != 1 || from[0].String() != `"Staybook" <bookings@staybook.local>` {
		t.Errorf("From = %v", from)
	}
	if len(p.Text) != 1 || !strings.Contains(p.Text[0], "Hôtel <Le Petit> & Co") || !strings.Contains(p.Text[0], "3F2A9C1E") ||
		!strings.Contains(p.Text[0], "2026-05-01") || !strings.Contains(p.Text[0], "2026-05-03") {
		t.Errorf("text parts %q", p.Text)
	}
	if len(p.HTML) != 1 || !strings.Contains(p.HTML[0], "Hôtel &lt;Le Petit&gt; &amp; Co") || strings.Contains(p.HTML[0], "<Le Petit>") {
		t.Errorf("html parts %q", p.HTML)
	}
	if len(p.Attachments) != 1 {
		t.Fatalf("%d attachments, want 1", len(p.Attachments))
	}
	a := p.Attachments[0]
	if a.Filename != "staybook-voucher-"+id+".pdf" || a.ContentType != "application/pdf" || !bytes.Equal(a.Data, pdf) {
		t.Errorf("attachment %q (%s), %d bytes, equal to the voucher: %v", a.Filename, a.ContentType, len(a.Data), bytes.Equal(a.Data, pdf))
	}

	code, body := h.get("/internal/emails/" + id)
	var rec struct {
		BookingID, MessageID, Recipient, Status string
		SentAt                                  time.Time `json:"sent_at"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &rec) != nil {
		t.Fatalf("GET email: %d %s", code, body)
	}
	if rec.Status != "sent" || !rec.SentAt.Equal(sent.SentAt) {
		t.Errorf("record %s", body)
	}
	h.noUnmaskedEmail("zoe@example.com")
}

func TestVoucherCreated_PublishedTwiceSendsOneEmailAndAnnouncesItTwice(t *testing.T) {
	t.Parallel()
	h := start(t)
	ev, _ := h.voucherCreated("b-twice", "ann@example.com", 0)
	msg := h.publish(ev)
	testkit.Must(t, h.pub.Publish(messaging.EventTopic(messaging.EventVoucherCreated), msg)) // the same message again

	// Both deliveries announce the email (the first announcement may be the
	// very thing a redelivery repairs), and both carry the one Message-ID.
	first := receive(t, h.sent, "first ConfirmationEmailSent")
	second := receive(t, h.sent, "second ConfirmationEmailSent")
	if first != second {
		t.Errorf("the announcements differ: %+v and %+v", first, second)
	}
	if n := len(h.smtp.Mails()); n != 1 {
		t.Fatalf("%d emails sent, want 1", n)
	}
	if got := h.metric("staybook_email_emails_already_sent_total"); got != 1 {
		t.Errorf("already-sent deliveries = %v, want 1", got)
	}
}

func TestVoucherCreated_SMTPDownIsRetriedThenDeadLetteredAndItsReplaySendsOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	deadLetters := h.subscribe(messaging.DeadLetterQueue)
	h.smtp.Stop()
	ev, _ := h.voucherCreated("b-outage", "ann@example.com", 0)
	h.publish(ev)

	dl := receive(t, deadLetters, "dead letter")
	if got := dl.Metadata.Get(messaging.DLHandlerKey); got != "send_confirmation_email" {
		t.Errorf("dl_handler = %q", got)
	}
	if got := dl.Metadata.Get(messaging.DLQueueKey); got != "events.VoucherCreated_email" {
		t.Errorf("dl_queue = %q", got)
	}
	if got := dl.Metadata.Get(messaging.DLAttemptsKey); got != "3" {
		t.Errorf("dl_attempts = %q, want 3", got)
	}
	if got := h.metric(`staybook_email_smtp_sends_total{result="transient"}`); got != 3 {
		t.Errorf("failed SMTP sends = %v, want 3 (one per attempt)", got)
	}
	if got := h.metric(`staybook_handler_failures_total{handler="send_confirmation_email"}`); got != 3 {
		t.Errorf("failed handler attempts = %v, want 3", got)
	}
	// An SMTP outage does not take the replica out of rotation.
	if code, body := h.get("/readyz"); code != http.StatusOK {
		t.Errorf("readyz during the SMTP outage: %d %s", code, body)
	}
	code, body := h.get("/internal/emails/b-outage")
	if code != http.StatusOK || !strings.Contains(string(body), `"status":"pending"`) || !strings.Contains(string(body), `"attempts":3`) {
		t.Errorf("record during the outage: %d %s", code, body)
	}
	if len(h.smtp.Mails()) != 0 {
		t.Fatal("an email was sent while the server was down")
	}

	h.smtp.Start()
	replay := dl.Copy()
	replay.SetContext(context.Background())
	testkit.Must(t, h.pub.Publish(messaging.QueueTopic(dl.Metadata.Get(messaging.DLQueueKey)), replay))

	sent := receive(t, h.sent, "ConfirmationEmailSent after the replay")
	if sent.BookingID != "b-outage" || sent.MessageID != "<b-outage@staybook>" {
		t.Errorf("ConfirmationEmailSent = %+v", sent)
	}
	if n := len(smtptest.MailsTo(h.smtp.Mails(), "ann@example.com")); n != 1 {
		t.Fatalf("%d emails sent after the replay, want 1", n)
	}
	if depth := testkit.QueueDepth(t, h.amqpURL, "events.VoucherCreated_email"); depth != 0 {
		t.Errorf("%d messages left in the queue", depth)
	}
	h.noUnmaskedEmail("ann@example.com")
}

func TestVoucherCreated_VoucherNotStoredYetIsSentAfterRetries(t *testing.T) {
	t.Parallel()
	h := start(t)
	ev, pdf := h.voucherCreated("b-late-voucher", "ann@example.com", 2) // 404, 404, then the PDF
	h.publish(ev)

	sent := receive(t, h.sent, "ConfirmationEmailSent")
	if sent.BookingID != "b-late-voucher" {
		t.Errorf("ConfirmationEmailSent = %+v", sent)
	}
	if got := h.vouchers.Requests("b-late-voucher"); got != 3 {
		t.Errorf("voucher fetched %d times, want 3", got)
	}
	mails := h.smtp.Mails()
	if len(mails) != 1 {
		t.Fatalf("%d emails sent, want 1", len(mails))
	}
	p := smtptest.ParseMail(t, mails[0].Data)
	if len(p.Attachments) != 1 || !bytes.Equal(p.Attachments[0].Data, pdf) {
		t.Errorf("the email does not carry the voucher")
	}
}

func TestVoucherCreated_RecipientRefusedByTheServerIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	h := start(t)
	deadLetters := h.subscribe(messaging.DeadLetterQueue)
	h.smtp.RejectRecipients(func(to string) bool { return to == "ghost@example.com" })
	ev, _ := h.voucherCreated("b-ghost", "ghost@example.com", 0)
	h.publish(ev)

	dl := receive(t, deadLetters, "dead letter")
	if dl.Metadata.Get(messaging.DLAttemptsKey) != "1" || dl.Metadata.Get(messaging.DLPermanentKey) != "true" {
		t.Errorf("dl_attempts %q, dl_permanent %q: want 1, true",
			dl.Metadata.Get(messaging.DLAttemptsKey), dl.Metadata.Get(messaging.DLPermanentKey))
	}
	if reason := dl.Metadata.Get(messaging.DLReasonKey); strings.Contains(reason, "ghost@example.com") || !strings.Contains(reason, "g***@example.com") {
		t.Errorf("dl_reason does not mask the address: %q", reason)
	}
	if len(h.smtp.Mails()) != 0 {
		t.Error("an email was sent")
	}
	h.noUnmaskedEmail("ghost@example.com")
}

func TestHTTP_DirectModeSendsOnceAndServesTheRecord(t *testing.T) {
	t.Parallel()
	h := start(t)
	ev, _ := h.voucherCreated("b-direct", "ann@example.com", 0)
	body, _ := json.Marshal(ev)

	var answers []contracts.ConfirmationEmailSent
	for range 2 {
		resp, err := http.Post(h.baseURL+"/internal/emails", "application/json", bytes.NewReader(body))
		testkit.Must(t, err)
		var sent contracts.ConfirmationEmailSent
		err = json.NewDecoder(resp.Body).Decode(&sent)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || err != nil {
			t.Fatalf("POST /internal/emails: %d (%v)", resp.StatusCode, err)
		}
		answers = append(answers, sent)
	}
	if answers[0] != answers[1] || answers[0].MessageID != "<b-direct@staybook>" {
		t.Errorf("answers %+v", answers)
	}
	if n := len(h.smtp.Mails()); n != 1 {
		t.Errorf("%d emails sent, want 1", n)
	}

	code, rec := h.get("/internal/emails/b-direct")
	if code != http.StatusOK || !strings.Contains(string(rec), `"message_id":"\u003cb-direct@staybook\u003e"`) {
		t.Errorf("GET record: %d %s", code, rec)
	}
	if code, _ := h.get("/internal/emails/unknown"); code != http.StatusNotFound {
		t.Errorf("GET unknown: %d, want 404", code)
	}

	bad := ev
	bad.BookingID, bad.GuestEmail = "b-bad-address", "not-an-address"
	body, _ = json.Marshal(bad)
	resp, err := http.Post(h.baseURL+"/internal/emails", "application/json", bytes.NewReader(body))
	testkit.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("bad address: %d, want 422", resp.StatusCode)
	}

	h.smtp.Stop()
	ev2, _ := h.voucherCreated("b-direct-down", "ann@example.com", 0)
	body, _ = json.Marshal(ev2)
	resp, err = http.Post(h.baseURL+"/internal/emails", "application/json", bytes.NewReader(body))
	testkit.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("SMTP down: %d, want 503 with Retry-After", resp.StatusCode)
	}

	// Direct mode answers the caller and publishes nothing. A publish would
	// have reached the queue before the answer; an email sent the queued
	// way now comes after it, so the first event on the queue must be that one.
	h.smtp.Start()
	marker, _ := h.voucherCreated("b-after-direct", "ann@example.com", 0)
	h.publish(marker)
	if ev := receive(t, h.sent, "ConfirmationEmailSent of the queued email"); ev.BookingID != marker.BookingID {
		t.Errorf("direct mode published %+v", ev)
	}
	if code, body := h.get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz: %d %s", code, body)
	}
}
