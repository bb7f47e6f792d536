package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/testkit"
)

type env struct {
	url      string
	topology messaging.Topology
	pubConn  *amqp.ConnectionWrapper
	subConn  *amqp.ConnectionWrapper
	pub      *messaging.Publisher
}

func newEnv(t *testing.T, topo messaging.Topology) *env { return newEnvTB(t, topo) }

func newEnvTB(t testing.TB, topo messaging.Topology) *env {
	t.Helper()
	url := testkit.Vhost(t)
	log := slog.New(slog.DiscardHandler)
	pubConn := messagingtest.Connect(t, url, "publish", log)
	subConn := messagingtest.Connect(t, url, "consume", log)
	testkit.Must(t, topo.DeclareOn(pubConn))
	pub := messagingtest.Publisher(t, pubConn, messaging.PublisherConfig{Topology: topo, Timeout: 5 * time.Second, Logger: log})
	return &env{url: url, topology: topo, pubConn: pubConn, subConn: subConn, pub: pub}
}

func classic() messaging.Topology {
	return messaging.Topology{QueueType: messaging.QueueTypeClassic, BookingQueueMax: 1000, DeliveryLimit: 20}
}

func bookRoom(t *testing.T, id string) *message.Message { return bookRoomB(t, id) }

func bookRoomB(t testing.TB, id string) *message.Message {
	msg, err := contracts.NewMessage(context.Background(), contracts.BookRoom{BookingID: id, HotelID: "h1"}, id)
	testkit.Must(t, err)
	return msg
}

func TestTopology_DeclaresEverythingIdempotentlyForBothQueueTypes(t *testing.T) {
	t.Parallel()
	for _, qt := range []string{messaging.QueueTypeClassic, messaging.QueueTypeQuorum} {
		t.Run(qt, func(t *testing.T) {
			topo := messaging.Topology{QueueType: qt, BookingQueueMax: 10, DeliveryLimit: 5}
			e := newEnv(t, topo)
			testkit.Must(t, topo.DeclareOn(e.pubConn)) // a second service starting
			ch, err := e.pubConn.Connection().Channel()
			testkit.Must(t, err)
			defer ch.Close()
			for _, q := range topo.DurableQueues() {
				if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
					t.Fatalf("queue %s: %v", q, err)
				}
			}
		})
	}
}

func TestTopology_DisagreeingServicesFailLoudly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	other := classic()
	other.BookingQueueMax = 7
	if err := other.DeclareOn(e.pubConn); err == nil {
		t.Fatal("declaring commands.BookRoom with another bound succeeded")
	}
}

func TestPublisher_FullCommandQueueIsAnErrorNotALoss(t *testing.T) {
	t.Parallel()
	topo := classic()
	topo.BookingQueueMax = 3
	e := newEnv(t, topo)
	for i := range 3 {
		testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, fmt.Sprint("b", i))))
	}
	err := e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b3"))
	if err == nil {
		t.Fatal("a publish past x-max-length was confirmed")
	}
	if got := testkit.QueueDepth(t, e.url, messaging.BookRoomQueue); got != 3 {
		testkit.Eventually(t, 10*time.Second, "queue depth 3", func() bool {
			return testkit.QueueDepth(t, e.url, messaging.BookRoomQueue) == 3
		})
	}
}

func TestPublisher_EventWithoutSubscribersGoesToUnroutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	// Unbind the only queue of events.CustomerNotified: an event published
	// there goes to unroutable instead of vanishing. A status change on the
	// notifications broadcast with no web replica up is simply dropped.
	ch, err := e.pubConn.Connection().Channel()
	testkit.Must(t, err)
	testkit.Must(t, ch.QueueUnbind(messaging.SubscriptionQueue(messaging.EventCustomerNotified, "booking"), "", messaging.EventTopic(messaging.EventCustomerNotified), nil))
	ch.Close()
	testkit.Must(t, e.pub.Publish(messaging.NotificationsExchange, bookRoom(t, "b0")))
	testkit.Must(t, e.pub.Publish(messaging.EventTopic(messaging.EventCustomerNotified), bookRoom(t, "b1")))
	// Both publishes are confirmed, and the broker routes before it confirms.
	if n := testkit.QueueDepth(t, e.url, messaging.UnroutableQueue); n != 1 {
		t.Fatalf("unroutable holds %d messages, want 1 (the event only)", n)
	}
}

type recorder struct {
	mu    sync.Mutex
	calls []time.Time
}

func (r *recorder) add() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, time.Now())
	return len(r.calls)
}

func (r *recorder) get() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls...)
}

func runRouter(t *testing.T, e *env, h messaging.Handler) (*messaging.Router, func()) {
	t.Helper()
	r, err := messaging.NewRouter(messaging.RouterConfig{DeadLetters: e.pub, Logger: testLogger(), CloseTimeout: 5 * time.Second})
	testkit.Must(t, err)
	r.AddHandler(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		t.Fatalf("router stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("router did not start")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("router: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

func deadLetters(t *testing.T, e *env) <-chan *message.Message {
	sub, err := messaging.NewQueueSubscriber(e.subConn, messaging.SubscriberConfig{Topology: e.topology})
	testkit.Must(t, err)
	t.Cleanup(func() { sub.Close() })
	ch, err := sub.Subscribe(testkit.Context(t), messaging.DeadLetterQueue)
	testkit.Must(t, err)
	return ch
}

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m := <-ch:
		m.Ack()
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message within 20s")
		return nil
	}
}

func policy(attempts int) messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts = attempts
	p.InitialInterval = 200 * time.Millisecond
	p.Multiplier = 2
	p.RandomizationFactor = 0.2
	p.MaxInterval = 10 * time.Second
	return p
}

func TestRouter_TransientFailureIsRetriedWithBackoffThenDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	var calls recorder
	runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(4),
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			calls.add()
			return errors.New("database unreachable")
		},
	})
	dls := deadLetters(t, e)
	msg := bookRoom(t, "b-transient")
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, msg))

	dl := receive(t, dls)
	got := calls.get()
	if len(got) != 4 {
		t.Fatalf("handler called %d times, want 4", len(got))
	}
	// A wait is never shorter than the policy says (a busy machine only
	// makes it longer), and not longer than the policy plus a second of a
	// busy machine's delay: enough to catch Watermill's backoff advancing
	// two steps per retry (the third wait would be 3.2 s, not 0.8 s).
	for n := 0; n < 3; n++ {
		gap := got[n+1].Sub(got[n])
		base := 200 * time.Millisecond * time.Duration(1<<n)
		lo, hi := time.Duration(0.8*float64(base))-20*time.Millisecond, time.Duration(1.2*float64(base))+time.Second
		if gap < lo || gap > hi {
			t.Errorf("gap %d = %s, want within [%s, %s]", n, gap, lo, hi)
		}
	}
	want := map[string]string{
		messaging.DLQueueKey: messaging.BookRoomQueue, messaging.DLHandlerKey: "book_room",
		messaging.DLReasonKey: "database unreachable", messaging.DLAttemptsKey: "4",
		contracts.CorrelationIDKey: "b-transient", contracts.SchemaNameKey: "BookRoom",
	}
	for k, v := range want {
		if dl.Metadata.Get(k) != v {
			t.Errorf("dead letter %s = %q, want %q", k, dl.Metadata.Get(k), v)
		}
	}
	if dl.UUID != msg.UUID || string(dl.Payload) != string(msg.Payload) {
		t.Error("dead letter is not the original message")
	}
	for _, k := range []string{messaging.DLFirstFailedAtKey, messaging.DLLastFailedAtKey} {
		if _, err := time.Parse(time.RFC3339Nano, dl.Metadata.Get(k)); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
}

func mustQueueSub(t *testing.T, e *env) *amqp.Subscriber {
	sub, err := messaging.NewQueueSubscriber(e.subConn, messaging.SubscriberConfig{Topology: e.topology})
	testkit.Must(t, err)
	t.Cleanup(func() { sub.Close() })
	return sub
}

func TestRouter_PermanentFailureIsDeadLetteredAfterOneAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	var calls atomic.Int32
	runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(5),
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			calls.Add(1)
			_, err := contracts.Decode[contracts.BookingConfirmed](msg) // wrong type: permanent
			return err
		},
	})
	dls := deadLetters(t, e)
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-perm")))
	dl := receive(t, dls)
	if calls.Load() != 1 || dl.Metadata.Get(messaging.DLAttemptsKey) != "1" {
		t.Fatalf("calls %d, dl_attempts %s", calls.Load(), dl.Metadata.Get(messaging.DLAttemptsKey))
	}
}

func TestRouter_MalformedDeliveryIsDeadLetteredAndDoesNotBlockTheQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	var handled sync.Map
	runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(3),
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			cmd, err := contracts.Decode[contracts.BookRoom](msg)
			if err != nil {
				return err
			}
			handled.Store(cmd.BookingID, true)
			return nil
		},
	})
	dls := deadLetters(t, e)
	// Raw publish: not JSON, with headers Watermill's own marshaler rejects.
	ch, err := e.pubConn.Connection().Channel()
	testkit.Must(t, err)
	defer ch.Close()
	testkit.Must(t, ch.Publish("", messaging.BookRoomQueue, false, false, amqp091.Publishing{
		Body:    []byte("not json"),
		Headers: amqp091.Table{"x-count": int32(3), "nested": amqp091.Table{"a": []any{int64(1), "b"}}},
	}))
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-valid")))

	dl := receive(t, dls)
	if dl.Metadata.Get("x-count") != "3" || dl.Metadata.Get("nested") != `{"a":[1,"b"]}` {
		t.Errorf("headers not stringified: %v", dl.Metadata)
	}
	testkit.Eventually(t, 10*time.Second, "valid message behind it handled", func() bool {
		_, ok := handled.Load("b-valid")
		return ok
	})
}

func TestRouter_ShutdownDuringRetriesNeitherLosesNorDeadLetters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	var calls recorder
	p := policy(10)
	p.InitialInterval = 2 * time.Second
	_, stop := runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: p,
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			calls.add()
			return errors.New("database unreachable")
		},
	})
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-shutdown")))
	testkit.Eventually(t, 10*time.Second, "first attempt", func() bool { return len(calls.get()) >= 1 })
	stop()
	if n := len(calls.get()); n != 1 {
		t.Fatalf("handler called %d times before shutdown, want 1", n)
	}
	testkit.Eventually(t, 10*time.Second, "message back in its queue", func() bool {
		return testkit.QueueDepth(t, e.url, messaging.BookRoomQueue) == 1
	})
	if n := testkit.QueueDepth(t, e.url, messaging.DeadLetterQueue); n != 0 {
		t.Fatalf("%d dead letters after shutdown, want 0", n)
	}
}

func testLogger() *slog.Logger { return testkit.Logger(slog.LevelDebug) }

func TestRouter_AFailureBeforeTheHandlerIsCountedAsAnAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	failFirst := func(next message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			panic("injected before the handler")
		}
	}
	r, err := messaging.NewRouter(messaging.RouterConfig{DeadLetters: e.pub, Logger: testLogger(), Inner: []message.HandlerMiddleware{failFirst}})
	testkit.Must(t, err)
	r.AddHandler(messaging.Handler{Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(2), Subscriber: mustQueueSub(t, e),
		Handle: func(*message.Message) error { return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-r.Running()
	dls := deadLetters(t, e)
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-panic")))
	if dl := receive(t, dls); dl.Metadata.Get(messaging.DLAttemptsKey) != "2" {
		t.Fatalf("dl_attempts %q, want 2", dl.Metadata.Get(messaging.DLAttemptsKey))
	}
}
