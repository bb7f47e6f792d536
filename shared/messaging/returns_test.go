package messaging_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// deleteQueue deletes queue on the broker, as an operator changing its
// arguments would.
func deleteQueue(t *testing.T, e *env, queue string) {
	t.Helper()
	ch, err := e.pubConn.Connection().Channel()
	testkit.Must(t, err)
	defer ch.Close()
	_, err = ch.QueueDelete(queue, false, false, false)
	testkit.Must(t, err)
}

// A command whose queue is gone is confirmed by the broker but returned: the
// publisher reports it as unroutable, never as published.
func TestPublisher_CommandWhoseQueueIsDeletedIsUnroutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-before")))
	deleteQueue(t, e, messaging.BookRoomQueue)
	err := e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-after"))
	if !errors.Is(err, messaging.ErrUnroutable) {
		t.Fatalf("publish to a deleted queue: %v, want ErrUnroutable", err)
	}
	// Once the queue is declared again, publishing works on the same publisher.
	testkit.Must(t, e.topology.DeclareOn(e.pubConn))
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, bookRoom(t, "b-again")))
	if n := testkit.QueueDepth(t, e.url, messaging.BookRoomQueue); n != 1 {
		t.Fatalf("commands.BookRoom holds %d, want 1", n)
	}
}

func TestPublisher_DeadLetterWithoutItsQueueIsUnroutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	deleteQueue(t, e, messaging.DeadLetterQueue)
	if err := e.pub.Publish(messaging.DeadLetterQueue, bookRoom(t, "b-dl")); !errors.Is(err, messaging.ErrUnroutable) {
		t.Fatalf("dead letter without dead_letters: %v, want ErrUnroutable", err)
	}
	if err := e.pub.Publish(messaging.QueueTopic("no_such_queue"), bookRoom(t, "b-replay")); !errors.Is(err, messaging.ErrUnroutable) {
		t.Fatalf("replay to a missing queue: %v, want ErrUnroutable", err)
	}
}

// Many messages share one channel, returned and routed ones interleaved:
// each publish gets its own outcome (returns are matched to their messages).
func TestPublisher_ReturnsAreMatchedToTheirOwnMessagesOnASharedChannel(t *testing.T) {
	t.Parallel()
	topo := classic()
	topo.BookingQueueMax = 100_000
	e := newEnv(t, topo)
	pub, err := messaging.NewPublisher(e.pubConn, messaging.PublisherConfig{Topology: topo, ChannelPoolSize: 1, Timeout: 10 * time.Second, Logger: testLogger()})
	testkit.Must(t, err)
	t.Cleanup(func() { pub.Close() })
	deleteQueue(t, e, messaging.DeadLetterQueue)

	const n = 300
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() { errs[2*i] = pub.Publish(messaging.BookRoomQueue, bookRoom(t, fmt.Sprint("ok-", i))) })
		wg.Go(func() { errs[2*i+1] = pub.Publish(messaging.DeadLetterQueue, bookRoom(t, fmt.Sprint("lost-", i))) })
	}
	wg.Wait()
	for i := range n {
		if errs[2*i] != nil {
			t.Fatalf("routed command %d: %v", i, errs[2*i])
		}
		if !errors.Is(errs[2*i+1], messaging.ErrUnroutable) {
			t.Fatalf("returned dead letter %d: %v, want ErrUnroutable", i, errs[2*i+1])
		}
	}
	if got := testkit.QueueDepth(t, e.url, messaging.BookRoomQueue); got != n {
		t.Fatalf("commands.BookRoom holds %d, want %d", got, n)
	}
}

// A handler's message that fails for good while dead_letters is missing is
// not acked: it stays in its queue and is dead-lettered once dead_letters
// is back.
func TestRouter_MessageIsNotAckedWhenItsDeadLetterIsUnroutable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, classic())
	var calls recorder
	_, stop := runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(1),
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			calls.add()
			return messaging.Permanent(errors.New("cannot be handled"))
		},
	})
	// After the subscriber declared the topology (which has dead_letters).
	deleteQueue(t, e, messaging.DeadLetterQueue)
	msg := bookRoom(t, "b-no-dlq")
	testkit.Must(t, e.pub.Publish(messaging.BookRoomQueue, msg))
	// Handled, not dead-lettered, redelivered: called again.
	testkit.Eventually(t, 30*time.Second, "message redelivered after its dead letter was returned", func() bool {
		return len(calls.get()) >= 2
	})
	stop()
	if n := testkit.QueueDepth(t, e.url, messaging.BookRoomQueue); n != 1 {
		t.Fatalf("commands.BookRoom holds %d, want the message back (1)", n)
	}

	testkit.Must(t, e.topology.DeclareOn(e.pubConn)) // dead_letters is back
	dls := deadLetters(t, e)
	runRouter(t, e, messaging.Handler{
		Name: "book_room", Topic: messaging.BookRoomQueue, Policy: policy(1),
		Subscriber: mustQueueSub(t, e),
		Handle: func(msg *message.Message) error {
			return messaging.Permanent(errors.New("cannot be handled"))
		},
	})
	if dl := receive(t, dls); dl.UUID != msg.UUID {
		t.Fatalf("dead letter %s, want %s", dl.UUID, msg.UUID)
	}
	testkit.Eventually(t, 10*time.Second, "commands.BookRoom empty", func() bool {
		return testkit.QueueDepth(t, e.url, messaging.BookRoomQueue) == 0
	})
}

// A broker that stops answering while the connection stays up: each
// publish fails at its deadline, the unconfirmed messages keep their room
// (MaxInFlight), so a publish beyond it is refused without being sent, and
// once the broker answers again the room comes back. No connection drops, so
// this runs under the race detector.
func TestPublisher_UnconfirmedPublishesFailAtTheDeadlineAndAreBoundedInFlight(t *testing.T) {
	t.Parallel()
	amqpURL, proxy, pub := proxiedPublisher(t, messaging.PublisherConfig{Topology: classic(), ChannelPoolSize: 1, MaxInFlight: 2, Timeout: 300 * time.Millisecond})
	testkit.Must(t, pub.Publish(messaging.BookRoomQueue, bookRoom(t, "before")))

	proxy.Stall()
	for i := range 3 { // the third finds no room: it is not sent at all
		if err := pub.Publish(messaging.BookRoomQueue, bookRoom(t, fmt.Sprint("stalled-", i))); !errors.Is(err, messaging.ErrPublishTimeout) {
			t.Fatalf("publish %d to a broker that does not answer: %v, want ErrPublishTimeout", i, err)
		}
	}
	proxy.Resume()
	testkit.Eventually(t, 10*time.Second, "room again once the broker confirms", func() bool {
		return pub.Publish(messaging.BookRoomQueue, bookRoom(t, "after")) == nil
	})
	got := map[string]bool{}
	for _, id := range correlationIDs(t, amqpURL, messaging.BookRoomQueue) {
		got[id] = true
	}
	for _, id := range []string{"before", "stalled-0", "stalled-1", "after"} {
		if !got[id] {
			t.Errorf("%s not in commands.BookRoom (got %v)", id, got)
		}
	}
	if got["stalled-2"] {
		t.Error("the publish beyond MaxInFlight was sent")
	}
}

// With RoomWait shorter than the deadline, a publish that finds no room
// among MaxInFlight fails with ErrBusy (the web tier's quick 503), not with
// ErrPublishTimeout at the deadline, and sends nothing.
func TestPublisher_WithRoomWaitAFullPublisherIsBusyAndSendsNothing(t *testing.T) {
	t.Parallel()
	amqpURL, proxy, pub := proxiedPublisher(t, messaging.PublisherConfig{
		Topology: classic(), ChannelPoolSize: 1, MaxInFlight: 1, Timeout: 2 * time.Second, RoomWait: 20 * time.Millisecond,
	})
	testkit.Must(t, pub.Publish(messaging.BookRoomQueue, bookRoom(t, "before")))
	proxy.Stall()
	stalled := make(chan error, 1)
	go func() { stalled <- pub.Publish(messaging.BookRoomQueue, bookRoom(t, "stalled")) }()
	// Once a stalled publish holds the only room, the next one is busy.
	// (Until then a try may take the room itself and time out like the
	// stalled one: such a try was sent.)
	busy := map[string]bool{}
	tries := 0
	testkit.Eventually(t, 20*time.Second, "a publish refused as busy", func() bool {
		id := fmt.Sprint("try-", tries)
		tries++
		err := pub.Publish(messaging.BookRoomQueue, bookRoom(t, id))
		if err != nil && !errors.Is(err, messaging.ErrBusy) && !errors.Is(err, messaging.ErrPublishTimeout) {
			t.Fatalf("publish beyond MaxInFlight: %v, want ErrBusy", err)
		}
		busy[id] = errors.Is(err, messaging.ErrBusy)
		return busy[id]
	})
	if err := <-stalled; !errors.Is(err, messaging.ErrPublishTimeout) && !errors.Is(err, messaging.ErrBusy) {
		t.Fatalf("stalled publish: %v, want ErrPublishTimeout (or ErrBusy, had a try taken the room first)", err)
	}
	proxy.Resume()
	testkit.Eventually(t, 10*time.Second, "room again once the broker confirms", func() bool {
		return pub.Publish(messaging.BookRoomQueue, bookRoom(t, "after")) == nil
	})
	for _, id := range correlationIDs(t, amqpURL, messaging.BookRoomQueue) {
		if busy[id] {
			t.Errorf("%s was refused as busy, yet sent", id)
		}
	}
}

// correlationIDs takes every message out of queue and returns their
// correlation IDs.
func correlationIDs(t *testing.T, amqpURL, queue string) []string {
	t.Helper()
	conn, err := amqp091.Dial(amqpURL)
	testkit.Must(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	testkit.Must(t, err)
	var ids []string
	for {
		d, ok, err := ch.Get(queue, true)
		testkit.Must(t, err)
		if !ok {
			return ids
		}
		ids = append(ids, d.CorrelationId)
	}
}
