package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/logging"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/servicekit/kittest"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/notification/internal/domain"
	"github.com/staybook/staybook/services/notification/internal/ntfytest"
	"github.com/staybook/staybook/services/notification/internal/ports"
)

const (
	topicSecret = "service-test-secret-0123456789-abcdefghij"
	guestEmail  = "ann.guest@example.org"
)

// receiver is a webhook receiver that records what it is sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []domain.WebhookEvent
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var e domain.WebhookEvent
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || json.NewDecoder(req.Body).Decode(&e) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []domain.WebhookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]domain.WebhookEvent(nil), r.events...)
}

type harness struct {
	url        string
	ntfy       *ntfytest.Server
	webhooks   []*receiver
	svc        *servicekit.Service
	pub        *messaging.Publisher
	notified   <-chan *message.Message
	taskFailed <-chan *message.Message
	logs       *testkit.Buffer
}

// start runs the service on a vhost of its own, with a stand-in ntfy and two
// webhook receivers, and subscribes to what it publishes through the booking
// service's queues (events.CustomerNotified_booking, events.TaskFailed_booking).
func start(t *testing.T, configure func(*Config)) *harness {
	t.Helper()
	h := &harness{url: testkit.Vhost(t), ntfy: ntfytest.New(t), logs: &testkit.Buffer{}}
	h.webhooks = []*receiver{newReceiver(t), newReceiver(t)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", h.logs.String())
		}
	})

	cfg := DefaultConfig()
	cfg.AMQPURL = h.url
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NtfyURL = h.ntfy.URL
	cfg.NtfyTopicSecret = topicSecret
	cfg.WebhookURLs = []string{h.webhooks[0].URL + "/hooks/staybook", " " + h.webhooks[1].URL + " "}
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.AMQPConnectTimeout = 20 * time.Second
	if configure != nil {
		configure(&cfg)
	}
	log := logging.NewWithWriter(h.logs, "notification", "debug", "json")

	h.svc = kittest.Start(t, program, cfg, log).Service

	quiet := logging.NewWithWriter(io.Discard, "test", "error", "json")
	pubConn := messagingtest.Connect(t, h.url, "test-publish", quiet)
	subConn := messagingtest.Connect(t, h.url, "test-consume", quiet)
	topology := messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax}
	h.pub = messagingtest.Publisher(t, pubConn, messaging.PublisherConfig{Topology: topology, Timeout: 5 * time.Second, Logger: quiet})
	sub, err := messaging.NewEventSubscriber(subConn, "booking", messaging.SubscriberConfig{Topology: topology, Logger: quiet})
	testkit.Must(t, err)
	t.Cleanup(func() { sub.Close() })
	h.notified, err = sub.Subscribe(testkit.Context(t), messaging.EventTopic(messaging.EventCustomerNotified))
	testkit.Must(t, err)
	h.taskFailed, err = sub.Subscribe(testkit.Context(t), messaging.EventTopic(messaging.EventTaskFailed))
	testkit.Must(t, err)
	return h
}

func (h *harness) publish(t *testing.T, event string, payload contracts.Contract, bookingID string) *message.Message {
	t.Helper()
	msg, err := contracts.NewMessage(context.Background(), payload, bookingID)
	testkit.Must(t, err)
	testkit.Must(t, h.pub.Publish(messaging.EventTopic(event), msg))
	return msg
}

func receive[T contracts.Contract](t *testing.T, ch <-chan *message.Message, what string) T {
	t.Helper()
	select {
	case msg := <-ch:
		msg.Ack()
		v, err := contracts.Decode[T](msg)
		testkit.Must(t, err)
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20s", what)
		panic("unreachable")
	}
}

// metrics returns the lines of the service's /metrics.
func (h *harness) metrics(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get("http://" + h.svc.Addr() + "/metrics")
	testkit.Must(t, err)
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// metric reads one sample from the service's /metrics, 0 if absent.
func (h *harness) metric(t *testing.T, name, handler string) float64 {
	t.Helper()
	prefix := fmt.Sprintf(`%s{handler=%q} `, name, handler)
	for _, line := range h.metrics(t) {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// handled counts the messages handler has finished handling, successfully
// (Watermill's handler metrics, summed over the handler's instances).
func (h *harness) handled(t *testing.T, handler string) float64 {
	t.Helper()
	prefix := fmt.Sprintf(`staybook_handler_execution_time_seconds_count{handler_name="%s#`, handler)
	var n float64
	for _, line := range h.metrics(t) {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, `success="true"`) {
			var f float64
			fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &f)
			n += f
		}
	}
	return n
}

func topicOf(email string) string {
	return domain.TopicScheme{Prefix: "staybook-", Secret: []byte(topicSecret)}.Topic(email)
}

func bookingConfirmed(id string) contracts.BookingConfirmed {
	return contracts.BookingConfirmed{
		BookingID: id, HotelID: "h1", HotelName: "Hotel Adlon", HotelCity: "Berlin", RoomType: "double",
		CheckIn: "2026-03-02", CheckOut: "2026-03-05", Nights: 3, Guests: 2,
		GuestName: "Ann Guest", GuestEmail: guestEmail, TotalPrice: contracts.Money{Amount: 45000, Currency: "EUR"},
		ConfirmedAt: time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC),
	}
}

// assertNotified checks one push with title and one POST per webhook for the
// event, and that the guest's address never appears in the logs.
func (h *harness) assertNotified(t *testing.T, bookingID, event, title, messagePart string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "one push and one POST per webhook", func() bool {
		return len(h.ntfy.Messages()) >= 1 && len(h.webhooks[0].received()) >= 1 && len(h.webhooks[1].received()) >= 1
	})
	msgs := h.ntfy.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d pushes, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Topic != topicOf(guestEmail) || m.Title != title || !strings.Contains(m.Message, messagePart) {
		t.Errorf("push %+v, want topic %s, title %q, message with %q", m, topicOf(guestEmail), title, messagePart)
	}
	for i, r := range h.webhooks {
		got := r.received()
		if len(got) != 1 || got[0].Event != event || got[0].BookingID != bookingID || got[0].OccurredAt.IsZero() || got[0].Data == nil {
			t.Errorf("webhook %d received %+v", i, got)
		}
	}
	if logs := h.logs.String(); strings.Contains(logs, guestEmail) {
		t.Error("the guest's email address is in the logs unmasked")
	}
}

func TestBookingConfirmed_PushesToTheGuestCallsEachWebhookAndAnnouncesCustomerNotified(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.publish(t, messaging.EventBookingConfirmed, bookingConfirmed("b-confirmed"), "b-confirmed")

	done := receive[contracts.CustomerNotified](t, h.notified, "CustomerNotified")
	if done.BookingID != "b-confirmed" || done.Event != "BookingConfirmed" ||
		strings.Join(done.Channels, ",") != "push,webhook" || done.NotifiedAt.IsZero() {
		t.Fatalf("CustomerNotified %+v", done)
	}
	h.assertNotified(t, "b-confirmed", "BookingConfirmed", "Booking confirmed",
		"Your booking at Hotel Adlon is confirmed, from 2 Mar 2026 to 5 Mar 2026 (3 nights)")
}

func TestBookingRejected_PushesTheReasonInWordsAndAnnouncesCustomerNotified(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.publish(t, messaging.EventBookingRejected, contracts.BookingRejected{
		BookingID: "b-rejected", HotelID: "h1", RoomType: "double", CheckIn: "2026-03-02", CheckOut: "2026-03-05",
		GuestName: "Ann Guest", GuestEmail: guestEmail, Reason: contracts.ReasonSoldOut, RejectedAt: time.Now(),
	}, "b-rejected")

	done := receive[contracts.CustomerNotified](t, h.notified, "CustomerNotified")
	if done.BookingID != "b-rejected" || done.Event != "BookingRejected" || len(done.Channels) != 2 {
		t.Fatalf("CustomerNotified %+v", done)
	}
	h.assertNotified(t, "b-rejected", "BookingRejected", "Booking not possible", "no room of that type is free for those dates")
}

// The voucher push is not the booking's notification task: it is sent, and
// announced to nobody (the booking service would only have ignored it).
func TestConfirmationEmailSent_PushesVoucherInInboxAndAnnouncesNothing(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.publish(t, messaging.EventConfirmationEmailSent, contracts.ConfirmationEmailSent{
		BookingID: "b-email", GuestName: "Ann Guest", GuestEmail: guestEmail, MessageID: "<b-email@staybook>", SentAt: time.Now(),
	}, "b-email")
	h.assertNotified(t, "b-email", "ConfirmationEmailSent", "Voucher sent", "Your voucher is in your inbox")
	// Once its handler has returned, anything it published is in the
	// queue ahead of the next booking's announcement.
	testkit.Eventually(t, 10*time.Second, "the ConfirmationEmailSent handler done", func() bool {
		return h.handled(t, ports.HandlerEmailSent) == 1
	})
	h.publish(t, messaging.EventBookingConfirmed, bookingConfirmed("b-next"), "b-next")
	if done := receive[contracts.CustomerNotified](t, h.notified, "CustomerNotified"); done.BookingID != "b-next" {
		t.Fatalf("CustomerNotified %+v, want the next booking's: the voucher push was announced", done)
	}
}

func TestBothChannelsOff_StillAnnouncesCustomerNotifiedWithNoChannels(t *testing.T) {
	t.Parallel()
	h := start(t, func(c *Config) { c.NtfyURL, c.WebhookURLs = "", nil })
	h.publish(t, messaging.EventBookingConfirmed, bookingConfirmed("b-off"), "b-off")
	done := receive[contracts.CustomerNotified](t, h.notified, "CustomerNotified")
	if done.BookingID != "b-off" || done.Channels == nil || len(done.Channels) != 0 {
		t.Fatalf("CustomerNotified %+v, want channels []", done)
	}
	if h.ntfy.Attempts() != 0 || len(h.webhooks[0].received()) != 0 {
		t.Fatal("a channel that is off was used")
	}
}

func TestNtfyDown_ConfirmedNotificationIsDiscardedCountedAndReportedAsTaskFailed(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.ntfy.FailWith(http.StatusInternalServerError)
	h.publish(t, messaging.EventBookingConfirmed, bookingConfirmed("b-ntfy-down"), "b-ntfy-down")

	failed := receive[contracts.TaskFailed](t, h.taskFailed, "TaskFailed")
	if failed.BookingID != "b-ntfy-down" || failed.Task != contracts.TaskNotification || !strings.Contains(failed.Reason, "500") {
		t.Fatalf("TaskFailed %+v", failed)
	}
	// TaskFailed is published after the router discarded the message, so
	// whatever happened to it has happened by now.
	if got := h.ntfy.Attempts(); got != DefaultPolicy().MaxAttempts {
		t.Errorf("ntfy called %d times, want %d attempts", got, DefaultPolicy().MaxAttempts)
	}
	if got := testkit.QueueDepth(t, h.url, messaging.DeadLetterQueue); got != 0 {
		t.Errorf("dead_letters holds %d messages, want 0 (discarded)", got)
	}
	if got := h.metric(t, "staybook_messages_discarded_total", ports.HandlerBookingConfirmed); got != 1 {
		t.Errorf("discard counter %v, want 1", got)
	}
	if got := testkit.QueueDepth(t, h.url, messaging.SubscriptionQueue(messaging.EventBookingConfirmed, "notification")); got != 0 {
		t.Errorf("the message is back on its queue (%d)", got)
	}
	// A CustomerNotified for the failed push would be on its queue by now;
	// one for a push that works now comes after it, so it must be the first.
	h.ntfy.FailWith(0)
	h.publish(t, messaging.EventBookingConfirmed, bookingConfirmed("b-ntfy-back"), "b-ntfy-back")
	if done := receive[contracts.CustomerNotified](t, h.notified, "CustomerNotified of the next booking"); done.BookingID != "b-ntfy-back" {
		t.Errorf("CustomerNotified published although the push failed: %+v", done)
	}
}

// Not parallel: t.Setenv.
func TestNtfyDown_WithDeadLetterPolicyTheNotificationEndsOnDeadLetters(t *testing.T) {
	t.Setenv("NOTIFY_BOOKING_CONFIRMED_ON_EXHAUSTED", "dead_letter")
	policies, err := LoadPolicies()
	testkit.Must(t, err)
	if p := policies[ports.HandlerBookingConfirmed]; p.OnExhausted != messaging.ExhaustedDeadLetter || p.MaxAttempts != 4 {
		t.Fatalf("policy from the environment: %+v", p)
	}
	h := start(t, func(c *Config) { c.Policies = policies })
	h.ntfy.FailWith(http.StatusBadGateway)
	h.publish(t, messaging.EventBookingConfirmed, bookingConfirmed("b-dead"), "b-dead")

	testkit.Eventually(t, 20*time.Second, "the message on dead_letters", func() bool {
		return testkit.QueueDepth(t, h.url, messaging.DeadLetterQueue) == 1
	})
	// The router counts a dead letter once its publish is confirmed, just after the queue has it.
	testkit.Eventually(t, 5*time.Second, "dead-letter counter at 1", func() bool {
		return h.metric(t, "staybook_messages_dead_lettered_total", ports.HandlerBookingConfirmed) == 1
	})
	if got := h.metric(t, "staybook_messages_discarded_total", ports.HandlerBookingConfirmed); got != 0 {
		t.Errorf("discard counter %v, want 0", got)
	}
	// The deadletters service reports dead-lettered tasks; this one must not.
	// A discarded rejection notice (that handler keeps the discard policy)
	// is reported after it, so its TaskFailed must be the first.
	h.publish(t, messaging.EventBookingRejected, contracts.BookingRejected{
		BookingID: "b-discarded", HotelID: "h1", RoomType: "double", CheckIn: "2026-05-01", CheckOut: "2026-05-03",
		GuestName: "Ann", GuestEmail: "ann@example.com", Reason: contracts.ReasonSoldOut, RejectedAt: time.Now(),
	}, "b-discarded")
	if failed := receive[contracts.TaskFailed](t, h.taskFailed, "TaskFailed of the discarded notification"); failed.BookingID != "b-discarded" {
		t.Errorf("TaskFailed published for a dead-lettered message: %+v", failed)
	}
}

func TestSameEventDeliveredTwice_PushesOnce(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	msg, err := contracts.NewMessage(context.Background(), bookingConfirmed("b-twice"), "b-twice")
	testkit.Must(t, err)
	for range 2 { // the outbox's at-least-once: the very same message twice
		testkit.Must(t, h.pub.Publish(messaging.EventTopic(messaging.EventBookingConfirmed), msg))
	}
	for i := range 2 {
		done := receive[contracts.CustomerNotified](t, h.notified, fmt.Sprint("CustomerNotified ", i+1))
		if done.BookingID != "b-twice" || len(done.Channels) != 2 {
			t.Fatalf("CustomerNotified %+v", done)
		}
	}
	if got := len(h.ntfy.Messages()); got != 1 {
		t.Errorf("%d pushes for one event delivered twice, want 1", got)
	}
	for i, r := range h.webhooks {
		if got := len(r.received()); got != 1 {
			t.Errorf("webhook %d called %d times, want 1", i, got)
		}
	}
}

func TestDirectMode_NotifiesInTheRequestAndAnswersCustomerNotified(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	payload, _ := json.Marshal(bookingConfirmed("b-direct"))
	body := fmt.Sprintf(`{"event":"BookingConfirmed","payload":%s}`, payload)
	resp, err := http.Post("http://"+h.svc.Addr()+"/internal/notifications", "application/json", strings.NewReader(body))
	testkit.Must(t, err)
	defer resp.Body.Close()
	var done contracts.CustomerNotified
	testkit.Must(t, json.NewDecoder(resp.Body).Decode(&done))
	if resp.StatusCode != http.StatusOK || done.BookingID != "b-direct" || len(done.Channels) != 2 {
		t.Fatalf("%d %+v", resp.StatusCode, done)
	}
	// In the request, not later: the push and webhooks are done when it answers.
	if len(h.ntfy.Messages()) != 1 || len(h.webhooks[0].received()) != 1 || len(h.webhooks[1].received()) != 1 {
		t.Fatalf("pushes %d, webhooks %d and %d", len(h.ntfy.Messages()), len(h.webhooks[0].received()), len(h.webhooks[1].received()))
	}

	resp, err = http.Post("http://"+h.svc.Addr()+"/internal/notifications", "application/json", strings.NewReader(`{"event":"VoucherCreated","payload":{}}`))
	testkit.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unknown event: %d, want 422", resp.StatusCode)
	}
	resp, err = http.Get("http://" + h.svc.Addr() + "/readyz")
	testkit.Must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
}
