package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// The router's chain on Watermill's in-memory pub/sub: no broker, so it
// runs in milliseconds (and under mutation testing).
func TestRouter_WithoutALoggerRetriesAndDeadLettersOnGoChannel(t *testing.T) {
	t.Parallel()
	bus := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	t.Cleanup(func() { bus.Close() })
	dead, err := bus.Subscribe(testkit.Context(t), messaging.DeadLetterQueue)
	testkit.Must(t, err)

	r, err := messaging.NewRouter(messaging.RouterConfig{DeadLetters: bus}) // no Logger: slog's default
	testkit.Must(t, err)
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts, p.InitialInterval, p.MaxInterval, p.RandomizationFactor = 3, time.Millisecond, time.Millisecond, 0
	calls, name := 0, ""
	r.AddHandler(messaging.Handler{
		Name: "book_room", Topic: "commands", Subscriber: bus, Policy: p,
		Handle: func(msg *message.Message) error {
			calls++
			name = message.HandlerNameFromCtx(msg.Context())
			return errors.New("database unreachable")
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	<-r.Running()

	testkit.Must(t, bus.Publish("commands", bookRoom(t, "b-unit")))
	select {
	case dl := <-dead:
		dl.Ack()
		if dl.Metadata.Get(messaging.DLAttemptsKey) != "3" || dl.Metadata.Get(messaging.DLHandlerKey) != "book_room" || calls != 3 {
			t.Fatalf("dead letter %v after %d calls, want 3 attempts", dl.Metadata, calls)
		}
		// One instance keeps the plain name (logs, Watermill's metrics); more get #1, #2...
		if name != "book_room" {
			t.Fatalf("handler named %q, want book_room", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing dead-lettered")
	}
}

func TestPublishTopic_BroadcastsGoToTheirFanoutsEventsToTheirExchange(t *testing.T) {
	for event, want := range map[string]string{
		"BookingStatusChanged": messaging.NotificationsExchange,
		"FaultChanged":         messaging.ControlExchange,
		"BookingConfirmed":     "events.BookingConfirmed",
		"TaskFailed":           "events.TaskFailed",
	} {
		if got := messaging.PublishTopic(event); got != want {
			t.Errorf("PublishTopic(%s) = %s, want %s", event, got, want)
		}
	}
}
