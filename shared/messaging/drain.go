package messaging

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// abortGrace is how long a handler whose context was cancelled at the end
// of the close timeout gets to return (and nack) before its subscriber is
// closed under it.
const abortGrace = 5 * time.Second

// drainingSubscriber is the one place where Staybook works around
// watermill-amqp's Close (docs/upstream/amqp-close-requeues-work-in-progress.md):
// closing an amqp.Subscriber nacks (requeues) every delivery whose handler
// is still running and cancels that handler's context, so another replica
// (or this one, after a restart) handles the message again while the first
// handler may still send the email or push the notification.
//
// The wrapper keeps the inner subscriber open, with an uncancellable context,
// until every message it handed out is settled:
//
//   - at shutdown (the subscribe context ends or Close is called) it stops
//     taking deliveries from the inner subscriber; a delivery the inner one
//     holds meanwhile is requeued when it is finally closed, unhandled;
//   - a handed-out message's context is not cancelled by the shutdown, only
//     by abort (the router's close timeout running out);
//   - a message counts as settled once the inner subscriber is done with its
//     delivery (its own context, which it cancels after sending the ack or
//     nack): only then can closing the inner subscriber not requeue it.
//     (Closing it right after msg.Ack() is a race: its select may pick the
//     close over the ack, and nack an acked message.)
//
// Close then closes the inner subscriber. It is idempotent, and every call
// waits until the first has finished.
type drainingSubscriber struct {
	inner message.Subscriber
	abort context.Context

	stopping chan struct{} // closed when the drain begins
	stopOnce sync.Once

	mu       sync.Mutex
	pending  int           // handed out, not yet settled
	settled  chan struct{} // closed (and replaced) whenever pending drops to 0 while draining
	forwards sync.WaitGroup

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error
}

func newDrainingSubscriber(inner message.Subscriber, abort context.Context) *drainingSubscriber {
	return &drainingSubscriber{
		inner:    inner,
		abort:    abort,
		stopping: make(chan struct{}),
		settled:  make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Subscribe subscribes the inner subscriber on a context the shutdown does
// not cancel, and forwards its messages until ctx ends or the drain begins.
func (s *drainingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	select {
	case <-s.stopping:
		return nil, errors.New("subscriber is closing")
	default:
	}
	in, err := s.inner.Subscribe(context.WithoutCancel(ctx), topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	s.forwards.Add(1)
	go func() {
		defer s.forwards.Done()
		defer close(out)
		for {
			select {
			case <-s.stopping:
				return
			case <-ctx.Done():
				return
			case msg, ok := <-in:
				if !ok {
					return
				}
				if !s.forward(ctx, msg, out) {
					return
				}
			}
		}
	}()
	return out, nil
}

// forward hands msg to the handler with a context of its own, and tracks it
// until the inner subscriber has settled its delivery.
func (s *drainingSubscriber) forward(ctx context.Context, msg *message.Message, out chan<- *message.Message) bool {
	delivery := msg.Context()
	hctx, cancel := context.WithCancel(context.WithoutCancel(delivery))
	stopAbort := context.AfterFunc(s.abort, cancel)
	msg.SetContext(hctx)
	s.mu.Lock()
	s.pending++
	s.mu.Unlock()
	go func() {
		s.waitDelivery(delivery, msg)
		stopAbort()
		cancel()
		s.mu.Lock()
		s.pending--
		if s.pending == 0 {
			close(s.settled)
			s.settled = make(chan struct{})
		}
		s.mu.Unlock()
	}()
	select {
	case out <- msg:
		return true
	case <-s.stopping:
	case <-ctx.Done():
	}
	msg.Nack() // never handled: back to the queue at once
	return false
}

// waitDelivery returns once the inner subscriber is done with msg's
// delivery: watermill-amqp ends the delivery's context after it sent the
// ack or nack. (A subscriber whose messages have no such context is taken
// at its word when the message is acked or nacked.)
func (s *drainingSubscriber) waitDelivery(delivery context.Context, msg *message.Message) {
	settled := delivery.Done()
	if settled == nil {
		select {
		case <-msg.Acked():
		case <-msg.Nacked():
		case <-s.closed:
		}
		return
	}
	select {
	case <-settled:
	case <-s.closed: // closed by someone else, who requeued it
	}
}

// stop begins the drain: no more deliveries are taken.
func (s *drainingSubscriber) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// Close drains (until every handed-out message is settled, or abort plus
// abortGrace) and closes the inner subscriber.
func (s *drainingSubscriber) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.forwards.Wait() // no message is handed out after this
		s.waitSettled()
		s.closeErr = s.inner.Close()
		close(s.closed)
	})
	<-s.closed
	return s.closeErr
}

func (s *drainingSubscriber) waitSettled() {
	abort := s.abort.Done()
	var giveUp <-chan time.Time
	for {
		s.mu.Lock()
		n, settled := s.pending, s.settled
		s.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-settled:
		case <-abort:
			abort = nil
			t := time.NewTimer(abortGrace)
			defer t.Stop()
			giveUp = t.C
		case <-giveUp:
			return
		}
	}
}
