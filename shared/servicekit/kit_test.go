package servicekit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/config"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/servicekit"
	"github.com/staybook/staybook/shared/testkit"
)

func commonConfig(t *testing.T, amqpURL string) config.Common {
	t.Helper()
	var c config.Common
	c.Defaults("kittest", "127.0.0.1:0")
	c.AMQPURL = amqpURL
	c.ShutdownTimeout = 5 * time.Second
	c.AMQPConnectTimeout = 20 * time.Second
	return c
}

// run builds a kit service, lets build register on it, runs it until the
// test ends and waits until it consumes.
func run(t *testing.T, c config.Common, build func(*servicekit.Service)) *servicekit.Service {
	t.Helper()
	svc, err := servicekit.New(context.Background(), servicekit.Options{Name: "kittest", Config: c, Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	if build != nil {
		build(svc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		testkit.Must(t, svc.Close())
	})
	select {
	case <-svc.Running():
	case err := <-done:
		t.Fatalf("stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not consuming after 30s")
	}
	return svc
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	testkit.Must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	testkit.Must(t, err)
	return resp.StatusCode, string(body)
}

func TestPublicListener_ServesHealthAndMetricsButNeverTheProfiler(t *testing.T) {
	svc := run(t, commonConfig(t, testkit.Vhost(t)), func(svc *servicekit.Service) {
		svc.Mux().HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	})
	base := "http://" + svc.Addr()
	if code, body := get(t, base+"/readyz"); code != 200 || !strings.Contains(body, `"broker_publish":"ok"`) || !strings.Contains(body, `"broker_consume":"ok"`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d", code)
	}
	if code, _ := get(t, base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ on the public listener: %d, want 404", code)
	}
	if code, body := get(t, base+"/hello"); code != 200 || body != "hello" {
		t.Errorf("/hello: %d %q", code, body)
	}
	if svc.InternalAddr() != "" {
		t.Errorf("InternalAddr %q without METRICS_ADDR", svc.InternalAddr())
	}
	// The route is measured under its pattern.
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `route="GET /hello"`) {
		t.Errorf("no HTTP metrics for GET /hello")
	}
}

func TestInternalListener_ServesTheProfilerAndMetricsStayPublic(t *testing.T) {
	c := commonConfig(t, testkit.Vhost(t))
	c.InternalAddr = testkit.FreeAddr(t)
	svc := run(t, c, nil)
	internal := "http://" + svc.InternalAddr()
	if code, body := get(t, internal+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("internal /debug/pprof/: %d", code)
	}
	if code, _ := get(t, internal+"/metrics"); code != 200 {
		t.Errorf("internal /metrics: %d", code)
	}
	if code, _ := get(t, "http://"+svc.Addr()+"/metrics"); code != 200 {
		t.Errorf("public /metrics without METRICS_ADDR: %d, want 200", code)
	}
	if code, _ := get(t, "http://"+svc.Addr()+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("public /debug/pprof/: %d, want 404", code)
	}
}

// METRICS_ADDR alone is the internal listener, as it was before
// INTERNAL_ADDR: metrics and the profiler move there.
func TestMetricsAddr_AloneMovesMetricsAndTheProfilerOffThePublicListener(t *testing.T) {
	c := commonConfig(t, testkit.Vhost(t))
	c.MetricsAddr = testkit.FreeAddr(t)
	svc := run(t, c, nil)
	internal := "http://" + svc.InternalAddr()
	if code, _ := get(t, internal+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ on METRICS_ADDR: %d", code)
	}
	if code, _ := get(t, internal+"/metrics"); code != 200 {
		t.Errorf("/metrics on METRICS_ADDR: %d", code)
	}
	if code, _ := get(t, "http://"+svc.Addr()+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics with METRICS_ADDR set: %d, want 404", code)
	}
}

// Both set to addresses of their own: metrics alone on METRICS_ADDR, the
// profiler on INTERNAL_ADDR, neither public.
func TestMetricsAddrAndInternalAddr_EachServesItsOwn(t *testing.T) {
	c := commonConfig(t, testkit.Vhost(t))
	c.MetricsAddr, c.InternalAddr = testkit.FreeAddr(t), testkit.FreeAddr(t)
	svc := run(t, c, nil)
	if code, _ := get(t, "http://"+c.MetricsAddr+"/metrics"); code != 200 {
		t.Errorf("/metrics on METRICS_ADDR: %d", code)
	}
	if code, _ := get(t, "http://"+c.MetricsAddr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ on the metrics listener: %d, want 404", code)
	}
	if code, _ := get(t, "http://"+c.InternalAddr+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ on INTERNAL_ADDR: %d", code)
	}
	if code, _ := get(t, "http://"+svc.Addr()+"/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics with METRICS_ADDR set: %d, want 404", code)
	}
}

func policy() messaging.RetryPolicy {
	p := messaging.DefaultRetryPolicy()
	p.MaxAttempts = 3
	p.InitialInterval = 10 * time.Millisecond
	p.MaxInterval = 20 * time.Millisecond
	return p
}

func TestHandleEvent_DecodesTheContractAndDeadLettersAMalformedOneAtOnce(t *testing.T) {
	url := testkit.Vhost(t)
	var mu sync.Mutex
	var got []contracts.BookingConfirmed
	calls := 0
	svc := run(t, commonConfig(t, url), func(svc *servicekit.Service) {
		h := cqrs.NewEventHandler("kit_confirmed", func(ctx context.Context, ev *contracts.BookingConfirmed) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			got = append(got, *ev)
			return nil
		})
		testkit.Must(t, svc.HandleEvent(h, servicekit.Handling{Policy: policy(), Instances: 2}))
	})
	ctx := context.Background()
	testkit.Must(t, svc.Events.Publish(ctx, contracts.BookingConfirmed{BookingID: "b-kit", HotelName: "Adlon"}))
	testkit.Eventually(t, 20*time.Second, "the handler gets the event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	if got[0].BookingID != "b-kit" || got[0].HotelName != "Adlon" {
		t.Errorf("decoded %+v", got[0])
	}

	// A version the handler does not know: dead-lettered after one attempt.
	bad, err := contracts.Marshaler{}.Marshal(contracts.BookingConfirmed{BookingID: "b-v2"})
	testkit.Must(t, err)
	bad.Metadata.Set(contracts.SchemaVersionKey, "2")
	testkit.Must(t, svc.Publisher.Publish(messaging.EventTopic(messaging.EventBookingConfirmed), bad))
	letter := waitDeadLetter(t, url)
	if h := letter.Headers; messaging.HeaderString(h[messaging.DLAttemptsKey]) != "1" ||
		messaging.HeaderString(h[messaging.DLPermanentKey]) != "true" ||
		messaging.HeaderString(h[messaging.DLQueueKey]) != "events.BookingConfirmed_kittest" ||
		messaging.HeaderString(h[messaging.DLHandlerKey]) != "kit_confirmed" {
		t.Errorf("dead letter headers %v", h)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("handler called %d times, want once (the malformed event never reaches it)", calls)
	}
}

func TestHandleEvent_AMessageOfAnotherNameIsMalformed(t *testing.T) {
	url := testkit.Vhost(t)
	svc := run(t, commonConfig(t, url), func(svc *servicekit.Service) {
		h := cqrs.NewEventHandler("kit_rejected", func(ctx context.Context, ev *contracts.BookingRejected) error {
			t.Errorf("handler called with %+v", ev)
			return nil
		})
		testkit.Must(t, svc.HandleEvent(h, servicekit.Handling{Policy: policy()}))
	})
	other, err := contracts.Marshaler{}.Marshal(contracts.TaskFailed{BookingID: "b-other", Task: contracts.TaskVoucher})
	testkit.Must(t, err)
	testkit.Must(t, svc.Publisher.Publish(messaging.EventTopic(messaging.EventBookingRejected), other))
	letter := waitDeadLetter(t, url)
	if a := messaging.HeaderString(letter.Headers[messaging.DLAttemptsKey]); a != "1" {
		t.Errorf("dl_attempts %s, want 1 (permanent)", a)
	}
	if r := messaging.HeaderString(letter.Headers[messaging.DLReasonKey]); !strings.Contains(r, `message name "TaskFailed", want "BookingRejected"`) {
		t.Errorf("dl_reason %q", r)
	}
}

func TestHandleCommand_ConsumesTheCommandQueue(t *testing.T) {
	url := testkit.Vhost(t)
	got := make(chan contracts.BookRoom, 1)
	svc := run(t, commonConfig(t, url), func(svc *servicekit.Service) {
		h := cqrs.NewCommandHandler("kit_book_room", func(ctx context.Context, cmd *contracts.BookRoom) error {
			got <- *cmd
			return nil
		})
		testkit.Must(t, svc.HandleCommand(h, servicekit.Handling{Policy: policy()}))
	})
	bus, err := messaging.CommandBus(svc.Publisher)
	testkit.Must(t, err)
	testkit.Must(t, bus.Send(context.Background(), contracts.BookRoom{BookingID: "b-cmd", HotelID: "h1"}))
	select {
	case cmd := <-got:
		if cmd.BookingID != "b-cmd" || cmd.HotelID != "h1" {
			t.Errorf("command %+v", cmd)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no command within 20s")
	}
}

func TestClose_ReleasesTheServicesOwnResourcesLastAddedFirst(t *testing.T) {
	svc, err := servicekit.New(context.Background(), servicekit.Options{Name: "kittest", Config: commonConfig(t, testkit.Vhost(t)), Logger: slog.New(slog.DiscardHandler)})
	testkit.Must(t, err)
	var order []string
	svc.OnClose(func() error { order = append(order, "first"); return nil })
	svc.OnClose(func() error { order = append(order, "second"); return errors.New("second failed") })
	err = svc.Close()
	if err == nil || !strings.Contains(err.Error(), "second failed") {
		t.Errorf("Close: %v, want the resource's error", err)
	}
	if strings.Join(order, ",") != "second,first" {
		t.Errorf("order %v", order)
	}
}

func TestNew_RefusesABadCommonConfiguration(t *testing.T) {
	c := commonConfig(t, "amqp://guest:guest@127.0.0.1:5672/")
	c.AMQPQueueType = "stream"
	_, err := servicekit.New(context.Background(), servicekit.Options{Name: "kittest", Config: c, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "AMQP_QUEUE_TYPE") {
		t.Fatalf("New: %v, want an error naming AMQP_QUEUE_TYPE", err)
	}
}

// waitDeadLetter takes the first message on dead_letters.
func waitDeadLetter(t *testing.T, url string) amqp091.Delivery {
	t.Helper()
	conn, err := amqp091.Dial(url)
	testkit.Must(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	testkit.Must(t, err)
	var letter amqp091.Delivery
	testkit.Eventually(t, 20*time.Second, "a dead letter", func() bool {
		d, ok, err := ch.Get(messaging.DeadLetterQueue, true)
		testkit.Must(t, err)
		letter = d
		return ok
	})
	return letter
}
