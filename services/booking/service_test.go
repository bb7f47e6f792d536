package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/messaging/messagingtest"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/testkit"
)

// stack is one test's broker vhost and database, and a publisher on them.
type stack struct {
	amqpURL, dbURL string
	pub            *messaging.Publisher
}

func newStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{amqpURL: testkit.Vhost(t), dbURL: testkit.Database(t)}
	topo := messaging.Topology{QueueType: "classic", BookingQueueMax: 100000, DeliveryLimit: 20}
	s.pub = messagingtest.DeclaredPublisher(t, s.amqpURL, messaging.PublisherConfig{Topology: topo, Logger: quiet()})
	return s
}

func quiet() *slog.Logger { return testkit.Logger(slog.LevelInfo) }

// instance is one running booking service.
type instance struct {
	svc  *servicekit.Service
	stop func()
}

func (s *stack) start(t testing.TB, workers int, adjust ...func(*Config)) *instance {
	t.Helper()
	cfg := DefaultConfig()
	for _, a := range adjust {
		a(&cfg)
	}
	cfg.AMQPURL, cfg.DatabaseURL, cfg.HTTPAddr = s.amqpURL, s.dbURL, "127.0.0.1:0"
	cfg.Workers = workers
	cfg.AMQPQueueType, cfg.BookingQueueMax, cfg.QuorumDeliveryMax = "classic", 100000, 20
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := program.New(ctx, cfg, quiet())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-svc.Running():
	case err := <-done:
		t.Fatalf("booking stopped: %v", err)
	}
	var once sync.Once
	in := &instance{svc: svc}
	in.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
			svc.Close()
		})
	}
	t.Cleanup(in.stop)
	return in
}

func (s *stack) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), sql, args...)
	testkit.Must(t, err)
}

func (s *stack) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	testkit.Must(t, err)
	defer conn.Close(context.Background())
	var n int
	testkit.Must(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func command(hotel, room string) contracts.BookRoom {
	return contracts.BookRoom{
		BookingID: uuid.NewString(), HotelID: hotel, RoomType: room,
		CheckIn: "2031-03-10", CheckOut: "2031-03-13", Guests: 1,
		GuestName: "Ada Lovelace", GuestEmail: "ada@example.com", RequestedAt: time.Now().UTC(),
	}
}

func (s *stack) send(t testing.TB, cmds ...contracts.BookRoom) {
	t.Helper()
	for _, c := range cmds {
		msg, err := contracts.NewMessage(context.Background(), c, c.BookingID)
		testkit.Must(t, err)
		testkit.Must(t, s.pub.Publish(messaging.BookRoomQueue, msg))
	}
}

func (s *stack) getBooking(t testing.TB, in *instance, id string) (map[string]any, int) {
	t.Helper()
	resp, err := http.Get("http://" + in.svc.Addr() + "/internal/bookings/" + id)
	testkit.Must(t, err)
	defer resp.Body.Close()
	var b map[string]any
	json.NewDecoder(resp.Body).Decode(&b)
	return b, resp.StatusCode
}

func subscribe(t testing.TB, s *stack, event, service string) <-chan *message.Message {
	t.Helper()
	conn, err := messaging.Connect(context.Background(), s.amqpURL, "test-sub", quiet())
	testkit.Must(t, err)
	t.Cleanup(func() { conn.Close() })
	sub, err := messaging.NewEventSubscriber(conn, service, messaging.SubscriberConfig{Topology: messaging.Topology{QueueType: "classic", BookingQueueMax: 100000, DeliveryLimit: 20}, Logger: quiet()})
	testkit.Must(t, err)
	ch, err := sub.Subscribe(testkit.Context(t), messaging.EventTopic(event))
	testkit.Must(t, err)
	return ch
}

// The booking's commit wakes the outbox forwarder: its events leave with
// no fallback poll to wait for (an hour here).
func TestBookRoom_ConfirmedBookingIsStoredAndAnnounced(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 2, func(c *Config) { c.OutboxPoll = time.Hour })
	confirmed := subscribe(t, s, messaging.EventBookingConfirmed, "voucher")
	cmd := command("lisbon-tagus-grand", "double")
	s.send(t, cmd)

	select {
	case msg := <-confirmed:
		msg.Ack()
		ev, err := contracts.Decode[contracts.BookingConfirmed](msg)
		testkit.Must(t, err)
		if ev.BookingID != cmd.BookingID || ev.Nights != 3 || ev.HotelName != "Tagus Grand Hotel" || ev.TotalPrice.Amount <= 0 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no BookingConfirmed")
	}
	b, code := s.getBooking(t, in, cmd.BookingID)
	if code != 200 || b["status"] != "confirmed" || b["version"] != float64(1) {
		t.Fatalf("%d %v", code, b)
	}
	tasks := b["tasks"].(map[string]any)
	if tasks["voucher"] != "pending" || tasks["email"] != "pending" || tasks["notification"] != "pending" {
		t.Fatalf("tasks %v", tasks)
	}
}

func TestBookRoom_SoldOutRoomTypeIsRejected(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 2)
	s.exec(t, `INSERT INTO room_types VALUES ('lisbon-alfama-house', 'attic', 'Attic', 2, 5000, 'EUR', 1)`)
	first, second := command("lisbon-alfama-house", "attic"), command("lisbon-alfama-house", "attic")
	second.CheckIn = "2031-03-12" // overlaps on the night of the 12th
	s.send(t, first)
	testkit.Eventually(t, 20*time.Second, "first booking confirmed", func() bool {
		b, _ := s.getBooking(t, in, first.BookingID)
		return b["status"] == "confirmed"
	})
	s.send(t, second)
	testkit.Eventually(t, 20*time.Second, "second booking rejected", func() bool {
		b, _ := s.getBooking(t, in, second.BookingID)
		return b["status"] == "rejected" && b["reason"] == "sold_out"
	})
	b, _ := s.getBooking(t, in, second.BookingID)
	if tasks := b["tasks"].(map[string]any); tasks["voucher"] != "skipped" || tasks["email"] != "skipped" {
		t.Fatalf("rejected booking tasks %v", tasks)
	}
}

func TestBookRoom_LastRoomsAreSoldOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.start(t, 8)
	s.exec(t, `INSERT INTO room_types VALUES ('berlin-spree-loft', 'penthouse', 'Penthouse', 2, 90000, 'EUR', 5)`)
	cmds := make([]contracts.BookRoom, 200)
	for i := range cmds {
		cmds[i] = command("berlin-spree-loft", "penthouse")
		// varied but overlapping stays: every one includes the night of the 11th
		cmds[i].CheckIn = fmt.Sprintf("2031-03-%02d", 9+i%3)
		cmds[i].CheckOut = fmt.Sprintf("2031-03-%02d", 12+i%2)
	}
	var wg sync.WaitGroup
	for part := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(t, cmds[part*50:(part+1)*50]...)
		}()
	}
	wg.Wait()
	testkit.Eventually(t, 60*time.Second, "200 bookings settled", func() bool {
		return s.count(t, `SELECT count(*) FROM bookings WHERE room_type = 'penthouse'`) == 200
	})
	confirmed := s.count(t, `SELECT count(*) FROM bookings WHERE room_type = 'penthouse' AND status = 'confirmed'`)
	soldOut := s.count(t, `SELECT count(*) FROM bookings WHERE room_type = 'penthouse' AND status = 'rejected' AND reason = 'sold_out'`)
	if confirmed != 5 || soldOut != 195 {
		t.Fatalf("confirmed %d, sold out %d; want 5 and 195", confirmed, soldOut)
	}
	if n := s.count(t, `SELECT count(*) FROM inventory WHERE room_type_id = 'penthouse' AND booked > total`); n != 0 {
		t.Fatalf("%d nights oversold", n)
	}
	if n := s.count(t, `SELECT max(booked) FROM inventory WHERE room_type_id = 'penthouse' AND night = '2031-03-11'`); n != 5 {
		t.Fatalf("night of the 11th: %d booked, want 5", n)
	}
}

func TestBookRoom_RedeliveredCommandChangesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 4)
	confirmed := subscribe(t, s, messaging.EventBookingConfirmed, "voucher")
	cmd := command("paris-opera-palace", "family")
	s.send(t, cmd, cmd, cmd)
	testkit.Eventually(t, 20*time.Second, "booking stored", func() bool {
		b, _ := s.getBooking(t, in, cmd.BookingID)
		return b["status"] == "confirmed"
	})
	testkit.Eventually(t, 20*time.Second, "queue drained", func() bool {
		return testkit.QueueDepth(t, s.amqpURL, messaging.BookRoomQueue) == 0
	})
	// Wait for the one event, then make sure no second one follows: the
	// outbox is empty, so nothing else can be on its way.
	msg := <-confirmed
	msg.Ack()
	testkit.Eventually(t, 10*time.Second, "outbox drained", func() bool {
		return s.count(t, `SELECT count(*) FROM watermill_outbox`) == 0
	})
	if n := testkit.QueueDepth(t, s.amqpURL, messaging.SubscriptionQueue(messaging.EventBookingConfirmed, "notification")); n != 1 {
		t.Fatalf("%d BookingConfirmed events for the notification service, want 1", n)
	}
	if n := s.count(t, `SELECT sum(booked) FROM inventory WHERE room_type_id = 'family' AND hotel_id = 'paris-opera-palace'`); n != 3 {
		t.Fatalf("%d room-nights taken, want 3", n)
	}
}

func TestBookRoom_CommandsWaitingWhileServiceIsDownAreAllSettled(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 8)
	in.stop()
	cmds := make([]contracts.BookRoom, 1000)
	for i := range cmds {
		cmds[i] = command("loadtest-grand-central", "double")
	}
	var wg sync.WaitGroup
	for part := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(t, cmds[part*100:(part+1)*100]...)
		}()
	}
	wg.Wait()
	if n := testkit.QueueDepth(t, s.amqpURL, messaging.BookRoomQueue); n != 1000 {
		t.Fatalf("queue holds %d commands, want 1000", n)
	}
	s.start(t, 8)
	testkit.Eventually(t, 90*time.Second, "1000 bookings in a final state", func() bool {
		return s.count(t, `SELECT count(*) FROM bookings WHERE status IN ('confirmed', 'rejected')`) == 1000
	})
	if n := s.count(t, `SELECT count(*) FROM bookings WHERE status = 'confirmed'`); n != 1000 {
		t.Fatalf("%d confirmed of 1000 (the hotel has thousands of rooms)", n)
	}
}

func TestRecordTask_EventsOutOfOrderLeaveTheRightFinalState(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 2)
	cmd := command("rome-trastevere-suites", "double")
	s.exec(t, `INSERT INTO room_types VALUES ('rome-trastevere-suites', 'double', 'Double room', 2, 15000, 'EUR', 10) ON CONFLICT DO NOTHING`)

	publish := func(topic string, payload contracts.Contract) {
		msg, err := contracts.NewMessage(context.Background(), payload, cmd.BookingID)
		testkit.Must(t, err)
		testkit.Must(t, s.pub.Publish(topic, msg))
	}
	// The voucher is reported before the booking's own transaction exists:
	// the handler retries until it does.
	publish(messaging.EventTopic(messaging.EventVoucherCreated), contracts.VoucherCreated{BookingID: cmd.BookingID})
	s.send(t, cmd)
	testkit.Eventually(t, 30*time.Second, "voucher done", func() bool {
		b, _ := s.getBooking(t, in, cmd.BookingID)
		tasks, _ := b["tasks"].(map[string]any)
		return tasks != nil && tasks["voucher"] == "done"
	})
	// Email fails, then a replay succeeds; a late failure never undoes done.
	publish(messaging.EventTopic(messaging.EventTaskFailed), contracts.TaskFailed{BookingID: cmd.BookingID, Task: "email", Reason: "smtp down"})
	testkit.Eventually(t, 20*time.Second, "email failed", func() bool {
		b, _ := s.getBooking(t, in, cmd.BookingID)
		return b["tasks"].(map[string]any)["email"] == "failed"
	})
	publish(messaging.EventTopic(messaging.EventConfirmationEmailSent), contracts.ConfirmationEmailSent{BookingID: cmd.BookingID})
	publish(messaging.EventTopic(messaging.EventCustomerNotified), contracts.CustomerNotified{BookingID: cmd.BookingID})
	testkit.Eventually(t, 20*time.Second, "email and notification done", func() bool {
		b, _ := s.getBooking(t, in, cmd.BookingID)
		tasks := b["tasks"].(map[string]any)
		return tasks["email"] == "done" && tasks["notification"] == "done"
	})
	publish(messaging.EventTopic(messaging.EventTaskFailed), contracts.TaskFailed{BookingID: cmd.BookingID, Task: "voucher", Reason: "late"})
	publish(messaging.EventTopic(messaging.EventCustomerNotified), contracts.CustomerNotified{BookingID: cmd.BookingID})
	testkit.Eventually(t, 20*time.Second, "late events consumed", func() bool {
		return testkit.QueueDepth(t, s.amqpURL, messaging.SubscriptionQueue(messaging.EventTaskFailed, "booking")) == 0 &&
			testkit.QueueDepth(t, s.amqpURL, messaging.SubscriptionQueue(messaging.EventCustomerNotified, "booking")) == 0
	})
	b, _ := s.getBooking(t, in, cmd.BookingID)
	tasks := b["tasks"].(map[string]any)
	// versions: 1 created, 2 voucher done, 3 email failed, 4 email done, 5 notified
	if tasks["voucher"] != "done" || tasks["email"] != "done" || tasks["notification"] != "done" || b["version"] != float64(5) {
		t.Fatalf("final state %v", b)
	}
}

func TestBookRoom_UnknownRoomTypeIsRejectedNotDeadLettered(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 2)
	unknownRoom, unknownHotel := command("paris-opera-palace", "broom-cupboard"), command("atlantis-hotel", "double")
	expired := command("paris-opera-palace", "single")
	expired.RequestedAt = time.Now().Add(-2 * time.Hour)
	s.send(t, unknownRoom, unknownHotel, expired)
	for id, reason := range map[string]string{unknownRoom.BookingID: "unknown_room_type", unknownHotel.BookingID: "unknown_room_type", expired.BookingID: "expired"} {
		testkit.Eventually(t, 20*time.Second, "rejected "+reason, func() bool {
			b, _ := s.getBooking(t, in, id)
			return b["status"] == "rejected" && b["reason"] == reason
		})
	}
	if n := testkit.QueueDepth(t, s.amqpURL, messaging.DeadLetterQueue); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

func TestMetrics_ExposeBookingsBacklogOutboxAndHandlers(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	in := s.start(t, 2)
	cmd := command("lisbon-tagus-grand", "double")
	s.send(t, cmd)
	testkit.Eventually(t, 20*time.Second, "booking confirmed", func() bool {
		b, _ := s.getBooking(t, in, cmd.BookingID)
		return b["status"] == "confirmed"
	})
	// The event leaves through the outbox a moment after the booking commits.
	var families map[string]*dto.MetricFamily
	testkit.Eventually(t, 10*time.Second, "event published", func() bool {
		families = testkit.Scrape(t, "http://"+in.svc.Addr()+"/metrics")
		return families["staybook_publish_time_seconds"] != nil
	})
	for _, name := range []string{
		"staybook_bookings_total", "staybook_outbox_lag_seconds", "staybook_queue_backlog_messages",
		"staybook_handler_execution_time_seconds", "staybook_http_requests_total", "staybook_publish_time_seconds",
	} {
		if _, ok := families[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if f := families["staybook_bookings_total"]; f != nil && f.GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("bookings_total %v", f.GetMetric()[0])
	}
}
