package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/servicekit/kittest"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// testCatalogue is what the fake booking service sells.
func testCatalogue() domain.Catalogue {
	return domain.Catalogue{Hotels: []domain.Hotel{
		{ID: "lisbon-alfama-house", Name: "Alfama House", City: "Lisbon", Address: "Rua de São Miguel 12", Stars: 3,
			RoomTypes: []domain.RoomType{
				{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 9500, Currency: "EUR", TotalRooms: 12},
				{ID: "single", Name: "Single room", Capacity: 1, PricePerNight: 6600, Currency: "EUR", TotalRooms: 4},
				{ID: "suite", Name: "Suite", Capacity: 4, PricePerNight: 22800, Currency: "EUR", TotalRooms: 8},
			}},
		{ID: "berlin-spree-loft", Name: "Spree Loft", City: "Berlin", Address: "Holzmarktstraße 19", Stars: 4,
			RoomTypes: []domain.RoomType{
				{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 14000, Currency: "EUR", TotalRooms: 10},
			}},
	}}
}

// fakeBooking is the booking service's internal API, in memory.
type fakeBooking struct {
	srv *httptest.Server

	catalogueCalls    atomic.Int32
	availabilityCalls atomic.Int32
	directCalls       atomic.Int32
	// otherCalls are requests to a route it does not serve (a key lookup,
	// which the web tier no longer makes, among them).
	otherCalls atomic.Int32

	mu       sync.Mutex
	bookings map[string]domain.Booking
	// directGate, if set, holds POST /internal/bookings until closed.
	directGate    chan struct{}
	directArrived chan struct{}
	directStatus  int // answer status of POST /internal/bookings (default 201)
}

func newFakeBooking(t *testing.T) *fakeBooking {
	f := &fakeBooking{bookings: map[string]domain.Booking{}, directArrived: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.otherCalls.Add(1)
		httpx.WriteError(w, 404, "not_found", "no such route")
	})
	mux.HandleFunc("GET /internal/catalogue", func(w http.ResponseWriter, r *http.Request) {
		f.catalogueCalls.Add(1)
		httpx.WriteJSON(w, 200, testCatalogue())
	})
	mux.HandleFunc("GET /internal/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, ok := f.bookings[r.PathValue("id")]
		f.mu.Unlock()
		if !ok {
			httpx.WriteError(w, 404, "not_found", "booking not found")
			return
		}
		httpx.WriteJSON(w, 200, b)
	})
	mux.HandleFunc("GET /internal/hotels/{id}/availability", func(w http.ResponseWriter, r *http.Request) {
		f.availabilityCalls.Add(1)
		if r.PathValue("id") != "lisbon-alfama-house" {
			httpx.WriteError(w, 404, "not_found", "hotel not found")
			return
		}
		if r.URL.Query().Get("check_in") == "" {
			httpx.WriteError(w, 422, "invalid_field", "check_in")
			return
		}
		httpx.WriteJSON(w, 200, map[string]any{"room_types": []map[string]any{{"id": "double", "available": 7}, {"id": "single", "available": 0}}})
	})
	mux.HandleFunc("POST /internal/bookings", func(w http.ResponseWriter, r *http.Request) {
		f.directCalls.Add(1)
		f.directArrived <- struct{}{}
		f.mu.Lock()
		gate, status := f.directGate, f.directStatus
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		var cmd contracts.BookRoom
		if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil || cmd.BookingID == "" {
			httpx.WriteError(w, 400, "malformed", "bad BookRoom")
			return
		}
		if status == 0 {
			status = 201
		}
		if status/100 != 2 {
			httpx.WriteError(w, status, "refused", "refused by the fake")
			return
		}
		b := domain.Booking{ID: cmd.BookingID, Version: 4, Status: contracts.StatusConfirmed, HotelID: cmd.HotelID,
			RoomType: cmd.RoomType, CheckIn: cmd.CheckIn, CheckOut: cmd.CheckOut, Guests: cmd.Guests, GuestName: cmd.GuestName,
			Tasks: contracts.Tasks{Voucher: contracts.TaskDone, Email: contracts.TaskDone, Notification: contracts.TaskDone}}
		f.put(b)
		httpx.WriteJSON(w, status, b)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBooking) URL() string { return f.srv.URL }

func (f *fakeBooking) put(b domain.Booking) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bookings[b.ID] = b
}

// down makes the booking service unreachable (connections refused).
func (f *fakeBooking) down() { f.srv.Close() }

// fakeVoucher serves voucher PDFs by booking ID.
func newFakeVoucher(t *testing.T, pdfs map[string][]byte) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /internal/vouchers/{file}", func(w http.ResponseWriter, r *http.Request) {
		pdf, ok := pdfs[strings.TrimSuffix(r.PathValue("file"), ".pdf")]
		if !ok {
			httpx.WriteError(w, 404, "not_found", "no voucher")
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(pdf)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// web is a running web tier under test.
type web struct {
	svc  *servicekit.Service
	base string
	// internal is the internal listener's base URL ("" without INTERNAL_ADDR).
	internal string
	stop     func() // stops it as SIGTERM would, and closes it
}

func testConfig(amqpURL, bookingURL, voucherURL string) Config {
	cfg := DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AMQPURL = amqpURL
	cfg.BookingURL = bookingURL
	cfg.VoucherURL = voucherURL
	cfg.BookingIDSecret = "test-secret-for-the-web-tier-tests-0123456789"
	cfg.PublishTimeout = 3 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.AMQPConnectTimeout = 20 * time.Second
	return cfg
}

func testLogger() *slog.Logger {
	if os.Getenv("WEB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startWeb(t *testing.T, cfg Config) *web {
	t.Helper()
	r := kittest.Start(t, program, cfg, testLogger())
	w := &web{svc: r.Service, base: "http://" + r.Addr()}
	if addr := r.InternalAddr(); addr != "" {
		w.internal = "http://" + addr
	}
	w.stop = func() {
		if err := r.Stop(); err != nil {
			t.Errorf("web stopped: %v", err)
		}
	}
	return w
}

// response is an HTTP answer with its JSON body decoded.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.body, dst); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", r.status, err, r.body)
	}
}

func (r response) errorDetail(t *testing.T) httpx.ErrorDetail {
	t.Helper()
	var e httpx.ErrorBody
	r.json(t, &e)
	return e.Error
}

func do(t *testing.T, method, url string, body string, header map[string]string) response {
	t.Helper()
	req, resp := send(t, method, url, body, header)
	checkAgainstOpenAPI(t, req, resp.status, resp.header, resp.body)
	return resp
}

// doInternal is do on the internal listener, whose operator endpoints the
// public OpenAPI document does not describe (or a request the public
// listener refuses because they are not there).
func doInternal(t *testing.T, method, url string, body string, header map[string]string) response {
	t.Helper()
	_, resp := send(t, method, url, body, header)
	return resp
}

func send(t *testing.T, method, url string, body string, header map[string]string) (*http.Request, response) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	testkit.Must(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	testkit.Must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testkit.Must(t, err)
	return req, response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (w *web) post(t *testing.T, body string, header map[string]string) response {
	t.Helper()
	return do(t, http.MethodPost, w.base+"/api/bookings", body, header)
}

func (w *web) get(t *testing.T, path string) response {
	t.Helper()
	return do(t, http.MethodGet, w.base+path, "", nil)
}

// takeBookRoom removes the next command from commands.BookRoom and decodes it.
func takeBookRoom(t *testing.T, amqpURL string) contracts.BookRoom {
	t.Helper()
	conn, err := amqp091.Dial(amqpURL)
	testkit.Must(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	testkit.Must(t, err)
	defer ch.Close()
	d, ok, err := ch.Get(messaging.BookRoomQueue, true)
	testkit.Must(t, err)
	if !ok {
		t.Fatal("commands.BookRoom is empty")
	}
	msg, err := messaging.Marshaler{}.Unmarshal(d)
	testkit.Must(t, err)
	cmd, err := contracts.Decode[contracts.BookRoom](msg)
	testkit.Must(t, err)
	return cmd
}

// publishStatus publishes a BookingStatusChanged to the notifications fanout,
// as the booking service's outbox does.
func publishStatus(t *testing.T, pub *messaging.Publisher, ev contracts.BookingStatusChanged) {
	t.Helper()
	msg, err := contracts.NewMessage(context.Background(), ev, ev.BookingID)
	testkit.Must(t, err)
	testkit.Must(t, pub.Publish(messaging.NotificationsExchange, msg))
}

func newTestPublisher(t *testing.T, amqpURL string, cfg Config) *messaging.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := messaging.Connect(ctx, amqpURL, "test", testLogger())
	testkit.Must(t, err)
	t.Cleanup(func() { conn.Close() })
	pub, err := messaging.NewPublisher(conn, messaging.PublisherConfig{
		Topology: messaging.Topology{QueueType: cfg.AMQPQueueType, BookingQueueMax: cfg.BookingQueueMax, DeliveryLimit: cfg.QuorumDeliveryMax},
		Timeout:  5 * time.Second, Logger: testLogger(),
	})
	testkit.Must(t, err)
	t.Cleanup(func() { pub.Close() })
	return pub
}
