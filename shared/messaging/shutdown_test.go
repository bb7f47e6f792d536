package messaging_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// otherReplica consumes queue as a second replica would, counting what it
// gets (and acking it, so a requeued message cannot come back to the
// router under test).
func otherReplica(t *testing.T, e *env, queue string) *atomic.Int32 {
	t.Helper()
	sub := mustQueueSub(t, e)
	ch, err := sub.Subscribe(testkit.Context(t), queue)
	testkit.Must(t, err)
	var got atomic.Int32
	go func() {
		for m := range ch {
			got.Add(1)
			m.Ack()
		}
	}()
	return &got
}

// A handler in flight when the router is closed finishes on a live context;
// its message is acked once, never requeued to another replica meanwhile.
// (watermill-amqp alone requeues it about 100 ms after Close and cancels the
// handler's context: docs/upstream/amqp-close-requeues-work-in-progress.md.)
func TestRouter_CloseLetsTheHandlerInFlightFinishAndAcksItsMessageOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	var (
		calls    atomic.Int32
		started  = make(chan struct{})
		release  = make(chan struct{})
		ctxErr   atomic.Value
		finished = make(chan struct{})
	)
	r, stop := runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(3),
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			if calls.Add(1) > 1 {
				return nil
			}
			close(started)
			<-release
			ctxErr.Store(errString(msg.Context().Err()))
			close(finished)
			return nil
		},
	})
	replica := otherReplica(t, e, messaging.BookRoomQueue)
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-in-flight")))
	<-started

	closed := make(chan struct{})
	go func() { stop(); close(closed) }()
	testkit.Eventually(t, 5*time.Second, "router shutting down", r.ShuttingDown)
	// The handler keeps running for longer than watermill-amqp took to
	// requeue the delivery (about 100 ms), within the close timeout (5 s).
	hold := time.NewTimer(2 * time.Second)
	select {
	case <-closed:
		t.Fatal("Close returned while a handler was running")
	case <-hold.C:
	}
	if n := replica.Load(); n != 0 {
		t.Fatalf("the other replica got the message in flight %d times during the shutdown", n)
	}
	close(release)
	<-finished
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the handler finished")
	}
	if err := ctxErr.Load().(string); err != "" {
		t.Errorf("handler's context was cancelled by the shutdown: %s", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	// Acked, not requeued: neither in the queue nor at the other replica.
	if n := testkit.QueueDepth(t, e.url, messaging.BookRoomQueue); n != 0 {
		t.Errorf("%d messages back in the queue", n)
	}
	if n := replica.Load(); n != 0 {
		t.Errorf("the other replica got the message %d times", n)
	}
}

// A handler that outlasts the close timeout has its context cancelled, and
// its message goes back to the queue for another replica: nothing is lost.
func TestRouter_HandlerOutlastingTheCloseTimeoutIsCancelledAndRequeued(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	r, err := messaging.NewRouter(messaging.RouterConfig{DeadLetters: e.pub, Logger: testLogger(), CloseTimeout: time.Second})
	testkit.Must(t, err)
	started := make(chan struct{})
	var calls atomic.Int32
	r.AddHandler(messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(3), Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			calls.Add(1)
			close(started)
			<-msg.Context().Done() // a handler stuck until cancelled
			return msg.Context().Err()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-stuck")))
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("router: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("router did not stop after its close timeout")
	}
	if n := testkit.QueueDepth(t, e.url, messaging.BookRoomQueue); n != 1 {
		t.Fatalf("%d messages in the queue after the shutdown, want the one requeued", n)
	}
	if n := testkit.QueueDepth(t, e.url, messaging.DeadLetterQueue); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1", n)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
