package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/servicekit/kittest"
	"github.com/staybook/staybook/shared/testkit"
)

const token = "test-admin-token"

var (
	topology          = messaging.Topology{QueueType: "classic", BookingQueueMax: 100000, DeliveryLimit: 20}
	voucherQueue      = messaging.SubscriptionQueue(messaging.EventBookingConfirmed, "voucher")
	notificationQueue = messaging.SubscriptionQueue(messaging.EventBookingConfirmed, "notification")
	taskFailedQueue   = messaging.SubscriptionQueue(messaging.EventTaskFailed, "booking")
)

// stack is one test's broker vhost and database, and a publisher on them.
type stack struct {
	amqpURL, dbURL string
	pub            *messaging.Publisher
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{amqpURL: testkit.Vhost(t), dbURL: testkit.Database(t)}
	s.pub = messagingtest.DeclaredPublisher(t, s.amqpURL, messaging.PublisherConfig{Topology: topology, Logger: quiet()})
	return s
}

func quiet() *slog.Logger { return testkit.Logger(slog.LevelInfo) }

// instance is one running deadletters service.
type instance struct {
	svc   *servicekit.Service
	url   string
	token string
}

func (s *stack) start(t *testing.T, adminToken string, configure ...func(*Config)) *instance {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AMQPURL, cfg.DatabaseURL, cfg.HTTPAddr = s.amqpURL, s.dbURL, "127.0.0.1:0"
	cfg.AMQPQueueType, cfg.BookingQueueMax, cfg.QuorumDeliveryMax = "classic", 100000, 20
	cfg.AdminToken = adminToken
	cfg.Development = true // the tests' well-known short token
	for _, c := range configure {
		c(&cfg)
	}
	svc := kittest.Start(t, program, cfg, quiet())
	return &instance{svc: svc.Service, url: "http://" + svc.Addr(), token: adminToken}
}

// call makes an admin API request with the instance's token and returns
// the status and body.
func (in *instance) call(t *testing.T, method, path string) (int, []byte) {
	t.Helper()
	return in.callWith(t, method, path, "Bearer "+in.token)
}

func (in *instance) callWith(t *testing.T, method, path, authorization string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, in.url+path, nil)
	testkit.Must(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	testkit.Must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	testkit.Must(t, err)
	return resp.StatusCode, body
}

type letter struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Topic           string            `json:"topic"`
	Queue           string            `json:"queue"`
	Handler         string            `json:"handler"`
	Reason          string            `json:"reason"`
	Attempts        int               `json:"attempts"`
	FirstFailedAt   time.Time         `json:"first_failed_at"`
	LastFailedAt    time.Time         `json:"last_failed_at"`
	CorrelationID   string            `json:"correlation_id"`
	Payload         string            `json:"payload"`
	PayloadEncoding string            `json:"payload_encoding"`
	Metadata        map[string]string `json:"metadata"`
	ReplayCount     int               `json:"replay_count"`
	History         []struct {
		Attempts int       `json:"attempts"`
		Reason   string    `json:"reason"`
		FailedAt time.Time `json:"failed_at"`
	} `json:"history"`
	Replays []struct {
		ReplayedAt time.Time `json:"replayed_at"`
	} `json:"replays"`
}

// show returns the letter with id, or its status code if not 200.
func (in *instance) show(t *testing.T, id string) (letter, int) {
	t.Helper()
	code, body := in.call(t, http.MethodGet, "/api/admin/dead-letters/"+id)
	var l letter
	if code == http.StatusOK {
		testkit.Must(t, json.Unmarshal(body, &l))
	}
	return l, code
}

func (in *instance) list(t *testing.T, query string) []letter {
	t.Helper()
	code, body := in.call(t, http.MethodGet, "/api/admin/dead-letters?"+query)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var out struct {
		DeadLetters []letter `json:"dead_letters"`
	}
	testkit.Must(t, json.Unmarshal(body, &out))
	return out.DeadLetters
}

// waitForLetter waits until the letter id is stored in status with attempts.
func (in *instance) waitForLetter(t *testing.T, id, status string, attempts int) letter {
	t.Helper()
	var l letter
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("letter %s %s with %d attempts", id, status, attempts), func() bool {
		var code int
		l, code = in.show(t, id)
		return code == http.StatusOK && l.Status == status && l.Attempts == attempts
	})
	return l
}

// task is a voucher worker run in the test, the real way: a messaging.Router
// with the handler create_voucher on events.BookingConfirmed_voucher, which
// fails (transiently, 3 attempts) until told to succeed.
type task struct {
	mode      atomic.Value // "fail", "permanent" or "succeed"
	mu        sync.Mutex
	calls     map[string]int
	succeeded map[string]bool
	stop      func()
}

func (s *stack) runVoucherTask(t *testing.T, mode string) *task {
	t.Helper()
	tk := &task{calls: map[string]int{}, succeeded: map[string]bool{}}
	tk.mode.Store(mode)
	conn, err := messaging.Connect(context.Background(), s.amqpURL, "voucher-task", quiet())
	testkit.Must(t, err)
	sub, err := messaging.NewEventSubscriber(conn, "voucher", messaging.SubscriberConfig{Topology: topology, Logger: quiet()})
	testkit.Must(t, err)
	router, err := messaging.NewRouter(messaging.RouterConfig{Logger: quiet(), DeadLetters: s.pub, CloseTimeout: 5 * time.Second})
	testkit.Must(t, err)
	policy := messaging.DefaultRetryPolicy()
	policy.MaxAttempts, policy.InitialInterval, policy.MaxInterval, policy.RandomizationFactor = 3, 10*time.Millisecond, 50*time.Millisecond, 0
	router.AddHandler(messaging.Handler{
		Name: "create_voucher", Topic: messaging.EventTopic(messaging.EventBookingConfirmed), Queue: voucherQueue,
		Subscriber: sub, Policy: policy,
		Handle: func(msg *message.Message) error {
			tk.mu.Lock()
			defer tk.mu.Unlock()
			tk.calls[msg.UUID]++
			switch tk.mode.Load() {
			case "fail":
				return errors.New("pdf renderer unavailable")
			case "permanent":
				return messaging.Permanent(errors.New("voucher template missing"))
			}
			tk.succeeded[msg.UUID] = true
			return nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-done:
		t.Fatalf("voucher task stopped: %v", err)
	}
	var once sync.Once
	tk.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			conn.Close()
		})
	}
	t.Cleanup(tk.stop)
	return tk
}

func (tk *task) callsOf(id string) int {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return tk.calls[id]
}

func (tk *task) succeededWith(id string) bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return tk.succeeded[id]
}

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// bookingConfirmed builds a BookingConfirmed with a trace context.
func bookingConfirmed(t *testing.T) (*message.Message, string) {
	t.Helper()
	id := uuid.NewString()
	msg, err := contracts.NewMessage(context.Background(), contracts.BookingConfirmed{
		BookingID: id, HotelID: "lisbon-tagus-grand", HotelName: "Tagus Grand Hotel", RoomType: "double",
		CheckIn: "2031-03-10", CheckOut: "2031-03-13", Nights: 3, Guests: 2, GuestName: "Ada Lovelace",
		GuestEmail: "ada@example.com", TotalPrice: contracts.Money{Amount: 36000, Currency: "EUR"}, ConfirmedAt: time.Now().UTC(),
	}, id)
	testkit.Must(t, err)
	msg.Metadata.Set("traceparent", traceparent)
	return msg, id
}

// sendToVoucherQueue publishes msg to the voucher service's queue alone.
func (s *stack) sendToVoucherQueue(t *testing.T, msg *message.Message) {
	t.Helper()
	testkit.Must(t, s.pub.Publish(messaging.QueueTopic(voucherQueue), msg))
}

// deadLetter builds a dead letter as the router would publish it.
func deadLetter(t *testing.T, handler, queue string, attempts int) *message.Message {
	t.Helper()
	msg, _ := bookingConfirmed(t)
	now := time.Now().UTC()
	msg.Metadata.Set(messaging.DLQueueKey, queue)
	msg.Metadata.Set(messaging.DLHandlerKey, handler)
	msg.Metadata.Set(messaging.DLReasonKey, "pdf renderer unavailable")
	msg.Metadata.Set(messaging.DLAttemptsKey, fmt.Sprint(attempts))
	msg.Metadata.Set(messaging.DLFirstFailedAtKey, now.Add(-time.Second).Format(time.RFC3339Nano))
	msg.Metadata.Set(messaging.DLLastFailedAtKey, now.Format(time.RFC3339Nano))
	msg.Metadata.Set(messaging.DLPermanentKey, "false")
	return msg
}

// take removes one message from queue (nil when it is empty).
func take(t *testing.T, amqpURL, queue string) *message.Message {
	t.Helper()
	return get(t, amqpURL, queue, false)
}

// peek returns the first message of queue and leaves it there.
func peek(t *testing.T, amqpURL, queue string) *message.Message {
	t.Helper()
	return get(t, amqpURL, queue, true)
}

func get(t *testing.T, amqpURL, queue string, requeue bool) *message.Message {
	t.Helper()
	d, ok, err := testkit.Channel(t, amqpURL).Get(queue, false)
	testkit.Must(t, err)
	if !ok {
		return nil
	}
	if requeue {
		testkit.Must(t, d.Nack(false, true))
	} else {
		testkit.Must(t, d.Ack(false))
	}
	msg, err := messaging.Marshaler{}.Unmarshal(d)
	testkit.Must(t, err)
	return msg
}

func (s *stack) exec(t *testing.T, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql)
	testkit.Must(t, err)
}

func (s *stack) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	var n int
	testkit.Must(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// waitOutboxDrained waits until every event written to the outbox is published.
func (s *stack) waitOutboxDrained(t *testing.T) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "outbox drained", func() bool {
		return s.count(t, `SELECT count(*) FROM watermill_outbox`) == 0
	})
}

// stored sums staybook_dead_letters_stored_total of instances by outcome.
func stored(t *testing.T, ins ...*instance) map[string]float64 {
	t.Helper()
	return counters(t, "staybook_dead_letters_stored_total", "outcome", ins...)
}

// counters sums the counter name of instances by the value of label.
func counters(t *testing.T, name, label string, ins ...*instance) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, in := range ins {
		families, err := in.svc.Metrics.Gather()
		testkit.Must(t, err)
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == label {
						out[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	return out
}

// Storing the letter wakes the outbox forwarder: TaskFailed leaves with no
// fallback poll to wait for (an hour here).
func TestDeadLetter_FailedVoucherTaskIsStoredWithItsMetadataAndAnnouncedAsTaskFailed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token, func(c *Config) { c.OutboxPoll = time.Hour })
	tk := s.runVoucherTask(t, "fail")
	msg, bookingID := bookingConfirmed(t)
	sent := time.Now()
	s.sendToVoucherQueue(t, msg)

	l := in.waitForLetter(t, msg.UUID, "dead", 3)
	if tk.callsOf(msg.UUID) != 3 {
		t.Errorf("handler called %d times, want 3", tk.callsOf(msg.UUID))
	}
	if l.Queue != voucherQueue || l.Handler != "create_voucher" || l.Reason != "pdf renderer unavailable" ||
		l.Topic != "BookingConfirmed" || l.CorrelationID != bookingID {
		t.Errorf("letter %+v", l)
	}
	if l.FirstFailedAt.Before(sent.Add(-time.Second)) || l.LastFailedAt.Before(l.FirstFailedAt) || time.Since(l.LastFailedAt) > time.Minute {
		t.Errorf("failed at %s .. %s, sent at %s", l.FirstFailedAt, l.LastFailedAt, sent)
	}
	if l.PayloadEncoding != "json" || l.Payload != string(msg.Payload) {
		t.Errorf("payload %s %q, want %q", l.PayloadEncoding, l.Payload, msg.Payload)
	}
	for k, v := range map[string]string{"traceparent": traceparent, contracts.CorrelationIDKey: bookingID,
		messaging.DLAttemptsKey: "3", messaging.DLQueueKey: voucherQueue, contracts.SchemaVersionKey: "1"} {
		if l.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, l.Metadata[k], v)
		}
	}
	if len(l.History) != 1 || l.History[0].Attempts != 3 || len(l.Replays) != 0 {
		t.Errorf("history %+v, replays %+v", l.History, l.Replays)
	}
	if got := in.list(t, "status=dead&handler=create_voucher&reason=RENDERER"); len(got) != 1 || got[0].ID != msg.UUID {
		t.Errorf("filtered list %+v", got)
	}
	if got := in.list(t, "handler=send_confirmation_email"); len(got) != 0 {
		t.Errorf("list of another handler: %+v", got)
	}

	var failed contracts.TaskFailed
	testkit.Eventually(t, 10*time.Second, "TaskFailed on "+taskFailedQueue, func() bool {
		m := take(t, s.amqpURL, taskFailedQueue)
		if m == nil {
			return false
		}
		var err error
		failed, err = contracts.Decode[contracts.TaskFailed](m)
		testkit.Must(t, err)
		return true
	})
	if failed.BookingID != bookingID || failed.Task != contracts.TaskVoucher || failed.Reason != "pdf renderer unavailable" || !failed.FailedAt.Equal(l.LastFailedAt) {
		t.Errorf("TaskFailed %+v", failed)
	}

	families := testkit.Scrape(t, in.url+"/metrics")
	gauge := map[string]float64{}
	for _, m := range families["staybook_dead_letters"].GetMetric() {
		gauge[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	if gauge["dead"] != 1 || gauge["replayed"] != 0 || gauge["purged"] != 0 {
		t.Errorf("staybook_dead_letters %v", gauge)
	}
	if got := stored(t, in); got["new"] != 1 {
		t.Errorf("stored %v", got)
	}
}

func TestDeadLetter_SameLetterDeliveredTwiceIsStoredOnceWithOneTaskFailed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// Two replicas compete for dead_letters: the two copies may be stored at the same moment.
	a, b := s.start(t, token), s.start(t, token)
	dl := deadLetter(t, "create_voucher", voucherQueue, 3)
	testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, dl))
	testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, dl))

	testkit.Eventually(t, 20*time.Second, "both copies handled", func() bool {
		got := stored(t, a, b)
		return got["new"]+got["duplicate"] == 2
	})
	if got := stored(t, a, b); got["new"] != 1 || got["duplicate"] != 1 {
		t.Fatalf("stored %v, want one new and one duplicate", got)
	}
	if got := a.list(t, ""); len(got) != 1 || got[0].ID != dl.UUID {
		t.Fatalf("list %+v", got)
	}
	if l, _ := b.show(t, dl.UUID); len(l.History) != 1 || l.Attempts != 3 {
		t.Fatalf("letter %+v", l)
	}
	s.waitOutboxDrained(t)
	if n := testkit.QueueDepth(t, s.amqpURL, taskFailedQueue); n != 1 {
		t.Fatalf("%d TaskFailed events, want 1", n)
	}
}

func TestDeadLetter_NotStorableYetStaysOnTheQueueUnalteredUntilItIs(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token, func(c *Config) {
		c.Workers = 1
		c.StoreRetry.MaxAttempts, c.StoreRetry.InitialInterval, c.StoreRetry.MaxInterval = 2, 10*time.Millisecond, 10*time.Millisecond
	})
	s.exec(t, `ALTER TABLE dead_letters RENAME TO dead_letters_away`) // the database "loses" the table
	dl := deadLetter(t, "create_voucher", voucherQueue, 3)
	testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, dl))
	// Two rounds of two attempts: the letter went back to the queue after
	// the first round, rather than being dead-lettered or dropped.
	testkit.Eventually(t, 20*time.Second, "the letter retried after its first round", func() bool {
		return counters(t, "staybook_handler_failures_total", "handler", in)["store_dead_letter"] >= 3
	})
	s.exec(t, `ALTER TABLE dead_letters_away RENAME TO dead_letters`)

	l := in.waitForLetter(t, dl.UUID, "dead", 3)
	if l.Handler != "create_voucher" || l.Queue != voucherQueue || l.Reason != "pdf renderer unavailable" {
		t.Fatalf("letter altered on its way back: %+v", l)
	}
	if got := stored(t, in); got["new"] != 1 || got["duplicate"] != 0 {
		t.Fatalf("stored %v", got)
	}
	if n := counters(t, "staybook_messages_dead_lettered_total", "handler", in)["store_dead_letter"]; n != 0 {
		t.Fatalf("%v dead letters of dead letters", n)
	}
	testkit.Eventually(t, 10*time.Second, "dead_letters empty", func() bool {
		return testkit.QueueDepth(t, s.amqpURL, messaging.DeadLetterQueue) == 0
	})
}

func TestReplay_RepublishesToTheOriginalQueueOnlyAndAFailureComesBackWithAttemptsCarriedOn(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	first := s.runVoucherTask(t, "fail")
	msg, _ := bookingConfirmed(t)
	s.sendToVoucherQueue(t, msg)
	before := in.waitForLetter(t, msg.UUID, "dead", 3)
	first.stop() // so that the replayed message waits on the queue to be looked at

	code, body := in.call(t, http.MethodPost, "/api/admin/dead-letters/"+msg.UUID+"/replay")
	var replayed letter
	json.Unmarshal(body, &replayed)
	if code != http.StatusOK || replayed.Status != "replayed" || replayed.ReplayCount != 1 {
		t.Fatalf("replay: %d %s", code, body)
	}
	if code, body := in.call(t, http.MethodPost, "/api/admin/dead-letters/"+msg.UUID+"/replay"); code != http.StatusConflict {
		t.Fatalf("second replay: %d %s, want 409", code, body)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, voucherQueue); n != 1 {
		t.Fatalf("%d messages on %s, want the replayed one", n, voucherQueue)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, notificationQueue); n != 0 {
		t.Fatalf("%d messages on %s: the replay reached another service", n, notificationQueue)
	}
	again := peek(t, s.amqpURL, voucherQueue)
	if again.UUID != msg.UUID || !bytes.Equal(again.Payload, msg.Payload) {
		t.Fatalf("replayed message %s %s, want %s %s", again.UUID, again.Payload, msg.UUID, msg.Payload)
	}
	for k, v := range map[string]string{"traceparent": traceparent, messaging.DLAttemptsKey: "3",
		messaging.DLFirstFailedAtKey: before.FirstFailedAt.Format(time.RFC3339Nano), contracts.SchemaNameKey: "BookingConfirmed"} {
		if got := again.Metadata.Get(k); got != v {
			t.Errorf("replayed metadata %s = %q, want %q", k, got, v)
		}
	}
	if again.Metadata.Get(messaging.DLReasonKey) != "" || again.Metadata.Get(messaging.DLHandlerKey) != "" {
		t.Errorf("replayed message carries the last failure's metadata: %v", again.Metadata)
	}
	if l, _ := in.show(t, msg.UUID); l.Status != "replayed" {
		t.Fatalf("status %s after replay", l.Status)
	}

	// The handler, still failing, takes it again.
	second := s.runVoucherTask(t, "fail")
	l := in.waitForLetter(t, msg.UUID, "dead", 6)
	if len(l.History) != 2 || l.History[0].Attempts != 3 || l.History[1].Attempts != 6 || len(l.Replays) != 1 {
		t.Fatalf("history %+v, replays %+v", l.History, l.Replays)
	}
	if !l.FirstFailedAt.Equal(before.FirstFailedAt) || !l.LastFailedAt.After(before.LastFailedAt) {
		t.Errorf("failed at %s .. %s, first round %s .. %s", l.FirstFailedAt, l.LastFailedAt, before.FirstFailedAt, before.LastFailedAt)
	}

	// Nothing loops: a message sent after it is handled and dead-lettered
	// behind it, and by then the replayed one was called no more.
	marker, _ := bookingConfirmed(t)
	s.sendToVoucherQueue(t, marker)
	in.waitForLetter(t, marker.UUID, "dead", 3)
	if n := second.callsOf(msg.UUID); n != 3 {
		t.Errorf("replayed message handled %d times after the replay, want 3", n)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, voucherQueue); n != 0 {
		t.Errorf("%d messages left on %s", n, voucherQueue)
	}
	if l, _ := in.show(t, msg.UUID); l.Status != "dead" || l.Attempts != 6 || len(l.History) != 2 {
		t.Errorf("letter changed after it was dead again: %+v", l)
	}
	s.waitOutboxDrained(t)
	if n := testkit.QueueDepth(t, s.amqpURL, taskFailedQueue); n != 3 {
		t.Errorf("%d TaskFailed events, want 3 (two rounds of one letter, one of the marker)", n)
	}
}

func TestReplay_ConsumedByAHandlerThatNowSucceedsStaysReplayed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	tk := s.runVoucherTask(t, "permanent")
	msg, _ := bookingConfirmed(t)
	s.sendToVoucherQueue(t, msg)
	l := in.waitForLetter(t, msg.UUID, "dead", 1) // a permanent failure is not retried
	if l.Metadata[messaging.DLPermanentKey] != "true" || !strings.Contains(l.Reason, "voucher template missing") {
		t.Fatalf("letter %+v", l)
	}

	tk.mode.Store("succeed") // the operator fixed the cause
	if code, body := in.call(t, http.MethodPost, "/api/admin/dead-letters/"+msg.UUID+"/replay"); code != http.StatusOK {
		t.Fatalf("replay: %d %s", code, body)
	}
	testkit.Eventually(t, 10*time.Second, "replayed message handled", func() bool { return tk.succeededWith(msg.UUID) })
	l, _ = in.show(t, msg.UUID)
	if l.Status != "replayed" || l.ReplayCount != 1 || len(l.History) != 1 || len(l.Replays) != 1 {
		t.Fatalf("letter after a successful replay: %+v", l)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, messaging.DeadLetterQueue); n != 0 {
		t.Fatalf("%d messages on dead_letters", n)
	}
	if got := in.list(t, "status=replayed"); len(got) != 1 || got[0].ID != msg.UUID {
		t.Fatalf("replayed list %+v", got)
	}
	if got := in.list(t, "status=dead"); len(got) != 0 {
		t.Fatalf("dead list %+v", got)
	}
}

func TestPurge_RemovesTheLetterFromTheListAndRecordsIt(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	dl := deadLetter(t, "send_confirmation_email", messaging.SubscriptionQueue(messaging.EventVoucherCreated, "email"), 6)
	kept := deadLetter(t, "create_voucher", voucherQueue, 3)
	testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, dl, kept))
	in.waitForLetter(t, dl.UUID, "dead", 6)
	in.waitForLetter(t, kept.UUID, "dead", 3)

	if code, body := in.call(t, http.MethodDelete, "/api/admin/dead-letters/"+dl.UUID); code != http.StatusNoContent {
		t.Fatalf("purge: %d %s", code, body)
	}
	if got := in.list(t, ""); len(got) != 1 || got[0].ID != kept.UUID {
		t.Fatalf("list after purge %+v", got)
	}
	if _, code := in.show(t, dl.UUID); code != http.StatusGone {
		t.Fatalf("show purged: %d, want 410", code)
	}
	if code, _ := in.call(t, http.MethodDelete, "/api/admin/dead-letters/"+dl.UUID); code != http.StatusGone {
		t.Fatalf("purge again: %d, want 410", code)
	}
	if code, _ := in.call(t, http.MethodPost, "/api/admin/dead-letters/"+dl.UUID+"/replay"); code != http.StatusConflict {
		t.Fatalf("replay purged: %d, want 409", code)
	}
	if code, _ := in.call(t, http.MethodDelete, "/api/admin/dead-letters/"+uuid.NewString()); code != http.StatusNotFound {
		t.Fatalf("purge unknown: %d, want 404", code)
	}
	if n := s.count(t, `SELECT count(*) FROM dead_letters WHERE id = $1 AND status = 'purged' AND purged_at IS NOT NULL AND payload = $2`,
		dl.UUID, dl.Payload); n != 1 {
		t.Fatal("purge not recorded with the letter's payload")
	}
}

func TestDeadLetter_UnparseableLetterIsStoredAsItIsAndCannotBeReplayed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	// A raw message: no UUID, no dl_* metadata, not JSON, a non-string header.
	ch := testkit.Channel(t, s.amqpURL)
	raw := amqp091.Publishing{Body: []byte("\xffnot json"), Headers: amqp091.Table{"x-count": int32(2)}}
	testkit.Must(t, ch.Publish("", messaging.DeadLetterQueue, false, false, raw))
	testkit.Must(t, ch.Publish("", messaging.DeadLetterQueue, false, false, raw))
	missing := deadLetter(t, "create_voucher", "events.BookingConfirmed_gone", 3)
	testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, missing))

	in.waitForLetter(t, missing.UUID, "dead", 3)
	testkit.Eventually(t, 10*time.Second, "all three deliveries handled", func() bool {
		got := stored(t, in)
		return got["new"]+got["duplicate"] == 3
	})
	letters := in.list(t, "")
	if len(letters) != 2 {
		t.Fatalf("list %+v, want the raw letter once and the other", letters)
	}
	var rawLetter letter
	for _, l := range letters {
		if l.ID != missing.UUID {
			rawLetter = l
		}
	}
	if rawLetter.ID == "" || rawLetter.PayloadEncoding != "base64" || rawLetter.Payload != "/25vdCBqc29u" ||
		rawLetter.Metadata["x-count"] != "2" || rawLetter.Handler != "" || rawLetter.Queue != "" {
		t.Fatalf("raw letter %+v", rawLetter)
	}
	code, body := in.call(t, http.MethodPost, "/api/admin/dead-letters/"+rawLetter.ID+"/replay")
	if code != http.StatusConflict || !strings.Contains(string(body), "no_queue") {
		t.Fatalf("replay without a queue: %d %s", code, body)
	}
	code, body = in.call(t, http.MethodPost, "/api/admin/dead-letters/"+missing.UUID+"/replay")
	if code != http.StatusConflict || !strings.Contains(string(body), "queue_missing") {
		t.Fatalf("replay to a missing queue: %d %s", code, body)
	}
	if l, _ := in.show(t, missing.UUID); l.Status != "dead" || l.ReplayCount != 0 {
		t.Fatalf("letter changed by a refused replay: %+v", l)
	}
}

func TestAdminAPI_RefusedWithoutAConfiguredToken(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, "")
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/admin/dead-letters"},
		{http.MethodGet, "/api/admin/dead-letters/x"},
		{http.MethodPost, "/api/admin/dead-letters/x/replay"},
		{http.MethodDelete, "/api/admin/dead-letters/x"},
	} {
		for _, auth := range []string{"", "Bearer ", "Bearer guess"} {
			code, body := in.callWith(t, r.method, r.path, auth)
			if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "admin API disabled: ADMIN_TOKEN not set") {
				t.Errorf("%s %s with %q: %d %s", r.method, r.path, auth, code, body)
			}
		}
	}
	if code, _ := in.callWith(t, http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
}

func TestAdminAPI_NeedsTheRightToken(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", "Basic " + token} {
		req, err := http.NewRequest(http.MethodGet, in.url+"/api/admin/dead-letters", nil)
		testkit.Must(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		testkit.Must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d, WWW-Authenticate %q", auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if code, body := in.call(t, http.MethodGet, "/api/admin/dead-letters"); code != http.StatusOK || !strings.Contains(string(body), `"dead_letters":[]`) {
		t.Errorf("right token: %d %s", code, body)
	}
	if code, body := in.callWith(t, http.MethodGet, "/readyz", ""); code != http.StatusOK {
		t.Errorf("readyz %d %s", code, body)
	}
}

// dlq runs the dlq binary (cmd/dlq, built once) with args and only the
// variables of env, and returns its exit code, stdout and stderr.
func dlq(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	bin := buildDLQ(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{} // not nil: nil would pass on the test's environment
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run dlq: %v", err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

var dlqBinary struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// buildDLQ builds cmd/dlq into a directory TestMain removes.
func buildDLQ(t *testing.T) string {
	t.Helper()
	dlqBinary.once.Do(func() {
		if dlqBinary.dir, dlqBinary.err = os.MkdirTemp("", "dlq"); dlqBinary.err != nil {
			return
		}
		dlqBinary.path = filepath.Join(dlqBinary.dir, "dlq")
		out, err := exec.Command("go", "build", "-o", dlqBinary.path, "./cmd/dlq").CombinedOutput()
		if err != nil {
			dlqBinary.err = fmt.Errorf("go build ./cmd/dlq: %v\n%s", err, out)
		}
	})
	testkit.Must(t, dlqBinary.err)
	return dlqBinary.path
}

func TestCLI_ListsShowsAndReplaysALetterOfARunningInstance(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	dl := deadLetter(t, "create_voucher", voucherQueue, 3)
	testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, dl))
	in.waitForLetter(t, dl.UUID, "dead", 3)
	env := map[string]string{"DEADLETTERS_URL": in.url, "ADMIN_TOKEN": token}

	code, out, errOut := dlq(t, env, "list", "-status", "dead")
	if code != 0 || !strings.Contains(out, dl.UUID) || !strings.Contains(out, "create_voucher") || !strings.Contains(out, "pdf renderer unavailable") {
		t.Fatalf("list: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = dlq(t, env, "show", dl.UUID)
	var shown letter
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || shown.ID != dl.UUID || len(shown.History) != 1 {
		t.Fatalf("show: %d\n%s\n%s", code, out, errOut)
	}
	// Flags given on the command line win over the environment.
	code, out, errOut = dlq(t, map[string]string{}, "-url", in.url, "replay", dl.UUID, "-token", token)
	if code != 0 || !strings.Contains(out, "replayed "+dl.UUID+" to "+voucherQueue) {
		t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
	}
	if n := testkit.QueueDepth(t, s.amqpURL, voucherQueue); n != 1 {
		t.Fatalf("%d messages on %s after the replay, want 1", n, voucherQueue)
	}
	code, out, _ = dlq(t, env, "list", "-status", "replayed", "-json")
	if code != 0 || !strings.Contains(out, `"status": "replayed"`) {
		t.Fatalf("list replayed: %d\n%s", code, out)
	}
	code, _, errOut = dlq(t, env, "replay", dl.UUID)
	if code != 1 || !strings.Contains(errOut, "409") {
		t.Fatalf("second replay: %d %s", code, errOut)
	}
	code, _, errOut = dlq(t, map[string]string{"DEADLETTERS_URL": in.url, "ADMIN_TOKEN": "wrong"}, "list")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Fatalf("wrong token: %d %s", code, errOut)
	}
	code, out, errOut = dlq(t, env, "purge", dl.UUID)
	if code != 0 || !strings.Contains(out, "purged "+dl.UUID) {
		t.Fatalf("purge: %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = dlq(t, env, "list")
	if code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("list after purge: %d\n%s", code, out)
	}
	if code, _, _ := dlq(t, env, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := dlq(t, env, "show"); code != 2 {
		t.Fatalf("show without an ID: exit %d, want 2", code)
	}
}

func TestList_PagesNewestFailureFirst(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, token)
	base := time.Now().UTC().Truncate(time.Second)
	var ids []string // oldest first; the last two failed at the same instant
	for i, at := range []time.Time{base.Add(-3 * time.Minute), base.Add(-2 * time.Minute), base, base} {
		dl := deadLetter(t, "create_voucher", voucherQueue, 3+i)
		dl.Metadata.Set(messaging.DLLastFailedAtKey, at.Format(time.RFC3339Nano))
		testkit.Must(t, s.pub.Publish(messaging.DeadLetterQueue, dl))
		in.waitForLetter(t, dl.UUID, "dead", 3+i)
		ids = append(ids, dl.UUID)
	}
	var seen []string
	before := ""
	for page := 0; page < 3; page++ {
		code, body := in.call(t, http.MethodGet, "/api/admin/dead-letters?limit=2&before="+url.QueryEscape(before))
		var out struct {
			DeadLetters []letter `json:"dead_letters"`
			NextBefore  string   `json:"next_before"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
			t.Fatalf("page %d: %d %s", page, code, body)
		}
		for _, l := range out.DeadLetters {
			seen = append(seen, l.ID)
		}
		if out.NextBefore == "" {
			break
		}
		before = out.NextBefore
	}
	if len(seen) != 4 || seen[2] != ids[1] || seen[3] != ids[0] || !(seen[0] == ids[2] && seen[1] == ids[3] || seen[0] == ids[3] && seen[1] == ids[2]) {
		t.Fatalf("pages gave %v, want newest first: %v", seen, ids)
	}
}
