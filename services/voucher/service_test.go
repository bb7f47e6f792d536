package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/services/voucher/internal/adapters/pdf/pdftest"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/servicekit/kittest"
	"github.com/staybook/staybook/shared/testkit"
)

var quiet = slog.New(slog.DiscardHandler)

// world is one test's broker vhost and database, with a publisher and a
// consumer of VoucherCreated (bound as the email service would be).
type world struct {
	t        *testing.T
	amqpURL  string
	dbURL    string
	db       *pgxpool.Pool
	pub      *messaging.Publisher
	created  chan contracts.VoucherCreated
	topology messaging.Topology
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, amqpURL: testkit.Vhost(t), dbURL: testkit.Database(t), created: make(chan contracts.VoucherCreated, 100),
		topology: messaging.Topology{QueueType: messaging.QueueTypeClassic, BookingQueueMax: 1000, DeliveryLimit: 20}}
	ctx := testkit.Context(t)
	conn, err := messaging.Connect(ctx, w.amqpURL, "test", quiet)
	testkit.Must(t, err)
	t.Cleanup(func() { conn.Close() })
	testkit.Must(t, w.topology.DeclareOn(conn))
	w.pub, err = messaging.NewPublisher(conn, messaging.PublisherConfig{Topology: w.topology, Logger: quiet})
	testkit.Must(t, err)
	t.Cleanup(func() { w.pub.Close() })

	sub, err := messaging.NewEventSubscriber(conn, "email", messaging.SubscriberConfig{Topology: w.topology, Logger: quiet})
	testkit.Must(t, err)
	t.Cleanup(func() { sub.Close() })
	msgs, err := sub.Subscribe(ctx, messaging.EventTopic(messaging.EventVoucherCreated))
	testkit.Must(t, err)
	go func() {
		for msg := range msgs {
			ev, err := contracts.Decode[contracts.VoucherCreated](msg)
			if err != nil {
				t.Errorf("VoucherCreated does not decode: %v", err)
			} else if msg.Metadata.Get(contracts.CorrelationIDKey) != ev.BookingID {
				t.Errorf("VoucherCreated correlation ID %q, want %q", msg.Metadata.Get(contracts.CorrelationIDKey), ev.BookingID)
			}
			msg.Ack()
			w.created <- ev
		}
	}()
	return w
}

// start runs a voucher service instance on the world until the test ends.
func (w *world) start() *instance { return w.startWith(nil) }

// startWith is start with changes to the configuration.
func (w *world) startWith(change func(*Config)) *instance {
	t := w.t
	t.Helper()
	cfg, err := LoadConfig()
	testkit.Must(t, err)
	cfg.AMQPURL, cfg.DatabaseURL, cfg.HTTPAddr, cfg.MetricsAddr = w.amqpURL, w.dbURL, "127.0.0.1:0", ""
	cfg.AMQPQueueType, cfg.BookingQueueMax, cfg.QuorumDeliveryMax = w.topology.QueueType, w.topology.BookingQueueMax, w.topology.DeliveryLimit
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Policy.InitialInterval, cfg.Policy.MaxInterval, cfg.Policy.MaxAttempts = 10*time.Millisecond, 50*time.Millisecond, 3
	if change != nil {
		change(&cfg)
	}

	svc := kittest.Start(t, program, cfg, quiet)
	in := &instance{t: t, base: "http://" + svc.Addr(), stop: svc.Stop}
	if w.db == nil {
		w.db, err = pgxpool.New(context.Background(), w.dbURL)
		testkit.Must(t, err)
		t.Cleanup(w.db.Close)
	}
	return in
}

func (w *world) publishBooking(ev contracts.BookingConfirmed) {
	w.t.Helper()
	msg, err := contracts.NewMessage(context.Background(), ev, ev.BookingID)
	testkit.Must(w.t, err)
	w.publish(msg)
}

func (w *world) publish(msg *message.Message) {
	w.t.Helper()
	testkit.Must(w.t, w.pub.Publish(messaging.EventTopic(messaging.EventBookingConfirmed), msg))
}

func (w *world) vouchers() int {
	w.t.Helper()
	var n int
	testkit.Must(w.t, w.db.QueryRow(context.Background(), `SELECT count(*) FROM vouchers`).Scan(&n))
	return n
}

func (w *world) nextCreated() contracts.VoucherCreated {
	w.t.Helper()
	select {
	case ev := <-w.created:
		return ev
	case <-time.After(20 * time.Second):
		w.t.Fatal("no VoucherCreated within 20s")
		return contracts.VoucherCreated{}
	}
}

type instance struct {
	t    *testing.T
	base string
	stop func() error // stops the service (once) and returns Run's error
}

func (in *instance) get(path string) (*http.Response, []byte) {
	in.t.Helper()
	resp, err := http.Get(in.base + path)
	testkit.Must(in.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	testkit.Must(in.t, err)
	return resp, body
}

// renders reads staybook_voucher_renders_total from the instance's /metrics.
func (in *instance) renders() int {
	in.t.Helper()
	_, body := in.get("/metrics")
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "staybook_voucher_renders_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			testkit.Must(in.t, err)
			return int(n)
		}
	}
	in.t.Fatal("no staybook_voucher_renders_total in /metrics")
	return 0
}

func booking(guest string) contracts.BookingConfirmed {
	return contracts.BookingConfirmed{
		BookingID: uuid.NewString(), HotelID: "h-aurora", HotelName: "Hotel Aurora",
		HotelAddress: "Karl Johans gate 1", HotelCity: "Oslo", RoomType: "rt-double", RoomTypeName: "Double room",
		CheckIn: "2025-06-02", CheckOut: "2025-06-05", Nights: 3, Guests: 2,
		GuestName: guest, GuestEmail: "guest@example.com",
		TotalPrice: contracts.Money{Amount: 123450, Currency: "EUR"}, ConfirmedAt: time.Now().UTC(),
	}
}

func TestService_BookingConfirmedBecomesAStoredVoucherAndVoucherCreated(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	in := w.start()
	b := booking("Łukasz Żółć")
	w.publishBooking(b)

	ev := w.nextCreated()
	if ev.BookingID != b.BookingID || ev.GuestName != b.GuestName || ev.GuestEmail != b.GuestEmail ||
		ev.HotelName != "Hotel Aurora" || ev.CheckIn != "2025-06-02" || ev.CheckOut != "2025-06-05" ||
		ev.VoucherURL != "/api/bookings/"+b.BookingID+"/voucher.pdf" || ev.SizeBytes == 0 || ev.CreatedAt.IsZero() {
		t.Fatalf("VoucherCreated %+v", ev)
	}
	if n := w.vouchers(); n != 1 {
		t.Fatalf("%d vouchers stored, want 1", n)
	}

	resp, body := in.get("/internal/vouchers/" + b.BookingID + ".pdf")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || len(body) != ev.SizeBytes {
		t.Fatalf("GET voucher: %d %s, %d bytes (announced %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ev.SizeBytes)
	}
	doc, err := pdftest.Read(body)
	testkit.Must(t, err)
	for _, want := range []string{b.BookingID, "Łukasz Żółć", "Hotel Aurora", "EUR 1,234.50"} {
		if !strings.Contains(doc.Text, want) {
			t.Errorf("voucher text lacks %q:\n%s", want, doc.Text)
		}
	}
	if doc.Pages != 1 {
		t.Errorf("%d pages, want 1", doc.Pages)
	}

	resp, body = in.get("/internal/vouchers/" + uuid.NewString() + ".pdf")
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Errorf("unknown voucher: %d %s", resp.StatusCode, body)
	}
	if resp, body := in.get("/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
}

func TestService_RedeliveredBookingStoresOneVoucherAndAnnouncesItAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	in := w.start()
	b := booking("Дмитрий Иванов")
	w.publishBooking(b)
	first := w.nextCreated()
	w.publishBooking(b) // the same event again, as a redelivery brings it
	second := w.nextCreated()
	if first.BookingID != b.BookingID || second != first {
		t.Fatalf("announcements differ:\n%+v\n%+v", first, second)
	}
	if n := w.vouchers(); n != 1 {
		t.Fatalf("%d vouchers stored, want 1", n)
	}
	if n := in.renders(); n != 1 {
		t.Fatalf("rendered %d times, want 1: a redelivery must not render again", n)
	}
}

// Two deliveries of one booking handled at the same time (two workers) may
// both render, but store one voucher and announce the same one twice.
func TestService_ConcurrentDuplicatesStoreOneVoucher(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.start()
	b := booking("Zoë Ångström")
	w.publishBooking(b)
	w.publishBooking(b)
	first, second := w.nextCreated(), w.nextCreated()
	if first.BookingID != b.BookingID || second != first {
		t.Fatalf("announcements differ:\n%+v\n%+v", first, second)
	}
	if n := w.vouchers(); n != 1 {
		t.Fatalf("%d vouchers stored, want 1", n)
	}
}

func TestService_ReplicasShareTheQueueAndRenderEachBookingOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.start(), w.start()
	const n = 12
	want := map[string]bool{}
	for i := range n {
		bk := booking(fmt.Sprintf("Γιώργος %d", i))
		want[bk.BookingID] = true
		w.publishBooking(bk)
	}
	for range n {
		ev := w.nextCreated()
		if !want[ev.BookingID] {
			t.Fatalf("unexpected or repeated VoucherCreated for %s", ev.BookingID)
		}
		delete(want, ev.BookingID)
	}
	if got := w.vouchers(); got != n {
		t.Fatalf("%d vouchers stored, want %d", got, n)
	}
	ra, rb := a.renders(), b.renders()
	if ra+rb != n || ra == 0 || rb == 0 {
		t.Fatalf("renders %d + %d; want %d in all, shared by both replicas", ra, rb, n)
	}
	// Any replica serves any voucher.
	var id string
	testkit.Must(t, w.db.QueryRow(context.Background(), `SELECT booking_id FROM vouchers LIMIT 1`).Scan(&id))
	for _, in := range []*instance{a, b} {
		if resp, _ := in.get("/internal/vouchers/" + id + ".pdf"); resp.StatusCode != 200 {
			t.Errorf("%s: GET voucher %d", in.base, resp.StatusCode)
		}
	}
}

func TestService_MalformedBookingConfirmedIsDeadLetteredAndTheNextIsProcessed(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.start()
	bad, err := contracts.NewMessage(context.Background(), contracts.BookingConfirmed{}, "")
	testkit.Must(t, err)
	bad.Payload = []byte(`{"booking_id": "3f1c1a34-6e0b-4f0e-9c1e`) // cut short
	w.publish(bad)
	good := booking("Zoë Ångström")
	w.publishBooking(good)

	if ev := w.nextCreated(); ev.BookingID != good.BookingID {
		t.Fatalf("VoucherCreated for %s, want %s", ev.BookingID, good.BookingID)
	}
	testkit.Eventually(t, 10*time.Second, "the malformed message on dead_letters", func() bool {
		return testkit.QueueDepth(t, w.amqpURL, messaging.DeadLetterQueue) == 1
	})
	conn, err := amqp091.Dial(w.amqpURL)
	testkit.Must(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	testkit.Must(t, err)
	d, ok, err := ch.Get(messaging.DeadLetterQueue, false)
	if err != nil || !ok {
		t.Fatalf("get dead letter: %v %v", ok, err)
	}
	if d.Headers[messaging.DLHandlerKey] != "create_voucher" || d.Headers[messaging.DLPermanentKey] != "true" ||
		d.Headers[messaging.DLQueueKey] != "events.BookingConfirmed_voucher" || !bytes.Equal(d.Body, bad.Payload) {
		t.Fatalf("dead letter headers %v body %q", d.Headers, d.Body)
	}
	if n := w.vouchers(); n != 1 {
		t.Fatalf("%d vouchers stored, want 1", n)
	}
}

func TestService_DirectModeCreatesTheVoucherInTheRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	in := w.start()
	b := booking("Γιώργος Παπαδόπουλος")
	body, _ := json.Marshal(b)
	post := func() contracts.VoucherCreated {
		resp, err := http.Post(in.base+"/internal/vouchers", "application/json", bytes.NewReader(body))
		testkit.Must(t, err)
		defer resp.Body.Close()
		var ev contracts.VoucherCreated
		if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || resp.StatusCode != 201 {
			t.Fatalf("POST: %d %v", resp.StatusCode, err)
		}
		return ev
	}
	first := post()
	if first.BookingID != b.BookingID || first.SizeBytes == 0 || first.VoucherURL != "/api/bookings/"+b.BookingID+"/voucher.pdf" {
		t.Fatalf("VoucherCreated %+v", first)
	}
	if again := post(); again != first {
		t.Fatalf("second POST %+v, want %+v", again, first)
	}
	if n := in.renders(); n != 1 {
		t.Fatalf("rendered %d times, want 1", n)
	}
	// The caller hands the result on: nothing is published, and the
	// publish would have been confirmed before the answer.
	if n := testkit.QueueDepth(t, w.amqpURL, messaging.SubscriptionQueue(messaging.EventVoucherCreated, "booking")); n != 0 {
		t.Fatalf("%d VoucherCreated published in direct mode", n)
	}
	resp, pdfBody := in.get("/internal/vouchers/" + b.BookingID + ".pdf")
	if resp.StatusCode != 200 || len(pdfBody) != first.SizeBytes {
		t.Fatalf("GET voucher: %d, %d bytes", resp.StatusCode, len(pdfBody))
	}
}

func TestService_ShutdownCancelsASlowRenderAndLeavesTheMessageForRedelivery(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	in := w.startWith(func(c *Config) {
		c.Workers = 1
		c.ExtraLatency = 10 * time.Minute
		c.Policy.Timeout = 20 * time.Minute
	})
	w.publishBooking(booking("Zoë Ångström"))
	queue := messaging.SubscriptionQueue(messaging.EventBookingConfirmed, Name)
	testkit.Eventually(t, 10*time.Second, "the booking taken by the handler", func() bool {
		return testkit.QueueDepth(t, w.amqpURL, queue) == 0
	})

	start := time.Now()
	if err := in.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %s: the render did not end with the context", d)
	}
	if n := testkit.QueueDepth(t, w.amqpURL, queue); n != 1 {
		t.Fatalf("%d messages back on %s, want 1 (redelivered later)", n, queue)
	}
	if n := testkit.QueueDepth(t, w.amqpURL, messaging.DeadLetterQueue); n != 0 {
		t.Fatalf("%d dead letters; a message cut short by shutdown must not be dead-lettered", n)
	}
}
