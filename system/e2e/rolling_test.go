package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"
)

// ntfyCounter is a stand-in ntfy server that counts the pushes it accepts
// per topic and title (one guest per booking: one topic per booking). It
// answers slowly, as a loaded gateway does: a push it has accepted may still
// be waiting for its answer when the replica that sent it is stopped.
type ntfyCounter struct {
	*httptest.Server
	mu     sync.Mutex
	pushes map[string]int // "topic title" -> count
}

func newNtfyCounter(t *testing.T, answerAfter time.Duration) *ntfyCounter {
	n := &ntfyCounter{pushes: map[string]int{}}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.mu.Lock()
		n.pushes[strings.TrimPrefix(r.URL.Path, "/")+" "+r.Header.Get("Title")]++
		n.mu.Unlock()
		select {
		case <-time.After(answerAfter):
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "stub", "event": "message"})
	}))
	t.Cleanup(n.Close)
	return n
}

// counts returns how many pushes of each title were accepted, and the
// topic-title pairs pushed more than once.
func (n *ntfyCounter) counts() (byTitle map[string]int, twice []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	byTitle = map[string]int{}
	for key, c := range n.pushes {
		_, title, _ := strings.Cut(key, " ")
		byTitle[title]++
		if c > 1 {
			twice = append(twice, fmt.Sprintf("%s x%d", key, c))
		}
	}
	return byTitle, twice
}

// allMessages lists every message Mailpit holds.
func (m mailpit) allMessages(t testing.TB) []mailpitMessage {
	return m.list(t, "/api/v1/messages?limit=5000")
}

// A rolling restart (SIGTERM, start again, one process at a time) of two
// email and two notification replicas while a burst of bookings flows
// through them sends no email and no push twice: a stopping replica lets the
// handlers it runs finish before their messages could go to another replica
// (shared/messaging, drainingSubscriber), and loses none.
func TestRollingRestart_EmailAndNotificationDuringABurstSendNothingTwice(t *testing.T) {
	t.Parallel()
	requireServices(t, backgroundServices)
	ntfy := newNtfyCounter(t, 300*time.Millisecond)
	s := newSystem(t, backgroundServices, map[string]string{
		// Handlers take a while, so that every stop finds some in flight.
		"EMAIL_EXTRA_LATENCY": "300ms", "NOTIFICATION_EXTRA_LATENCY": "200ms",
		"NTFY_URL": ntfy.URL, "NTFY_TOPIC_SECRET": "rolling-restart-topic-secret",
	}, nil)
	mail := s.startMailpit(t)
	s.start(t, backgroundServices...)
	web := s.URL("web")
	s.startReplica(t, "email", "email-2")
	s.startReplica(t, "notification", "notification-2")

	const n = 200
	underWay := make(chan struct{})
	type result struct{ accepted []string }
	done := make(chan result, 1)
	go func() {
		accepted, _ := burst(t, web, n, 8, func(i int) {
			if i == 60 { // the first emails and pushes are under way
				close(underWay)
			}
		})
		done <- result{accepted}
	}()
	<-underWay
	for _, p := range []struct{ name, service string }{
		{"email", "email"}, {"notification", "notification"}, {"email-2", "email"}, {"notification-2", "notification"},
	} {
		if err := s.Stop(p.name, 30*time.Second); err != nil {
			t.Errorf("%s did not stop cleanly: %v", p.name, err)
		}
		if p.name == p.service {
			s.start(t, p.service)
		} else {
			s.startReplica(t, p.service, p.name)
		}
	}
	accepted := (<-done).accepted
	if len(accepted) != n {
		t.Fatalf("accepted %d of %d", len(accepted), n)
	}
	final := waitFinal(t, web, accepted, 3*time.Minute)
	for _, id := range accepted {
		waitTasksDone(t, web, id, 2*time.Minute)
	}
	confirmed := final["confirmed"]
	testkit.Eventually(t, time.Minute, "a push for every email sent", func() bool {
		byTitle, _ := ntfy.counts()
		return byTitle["Voucher sent"] >= confirmed
	})
	// Stopped, every replica has settled its messages: a message requeued
	// rather than acked would be left in its queue.
	for _, name := range []string{"email", "email-2", "notification", "notification-2"} {
		if err := s.Stop(name, 30*time.Second); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, q := range []string{
		messaging.SubscriptionQueue(messaging.EventVoucherCreated, "email"),
		messaging.SubscriptionQueue(messaging.EventBookingConfirmed, "notification"),
		messaging.SubscriptionQueue(messaging.EventBookingRejected, "notification"),
		messaging.SubscriptionQueue(messaging.EventConfirmationEmailSent, "notification"),
	} {
		if d := testkit.QueueDepth(t, s.amqpURL, q); d != 0 {
			t.Errorf("%d messages left in %s", d, q)
		}
	}

	perBooking := map[string]int{}
	for _, m := range mail.allMessages(t) {
		perBooking[m.MessageID]++
	}
	var twice []string
	for id, c := range perBooking {
		if c > 1 {
			twice = append(twice, fmt.Sprintf("%s x%d", id, c))
		}
	}
	if len(perBooking) != confirmed || len(twice) > 0 {
		t.Errorf("emails for %d bookings (%d confirmed); sent more than once: %v", len(perBooking), confirmed, twice)
	}
	byTitle, pushedTwice := ntfy.counts()
	if byTitle["Booking confirmed"] != confirmed || byTitle["Booking not possible"] != final["rejected"] ||
		byTitle["Voucher sent"] != confirmed || len(pushedTwice) > 0 {
		t.Errorf("pushes %v for %v; pushed more than once: %v", byTitle, final, pushedTwice)
	}
	t.Logf("%d bookings %v, %d emails, pushes %v", n, final, len(perBooking), byTitle)
}
