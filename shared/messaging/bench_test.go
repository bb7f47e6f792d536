package messaging_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/telemetry"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkMiddlewareChain compares a bare Watermill handler with the same
// handler behind Staybook's whole chain (tracing, correlation ID, dead
// letter, retry, timeout, recovery, attempt counting), on the in-memory
// pub/sub, so only the middleware's cost shows. cpu-µs/op is this
// process's CPU per message (the wall time per message mostly waits for the
// in-memory pub/sub's acks, and varies with the machine's other load). Reproduce:
//
//	go test ./shared/messaging -run '^$' -bench MiddlewareChain -benchtime 20000x -count 5
func BenchmarkMiddlewareChain(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchRouter(b, false) })
	b.Run("chain", func(b *testing.B) { benchRouter(b, true) })
	// The same chain with tracing on: every message sampled, its consumer
	// span exported in batches (to an exporter that drops them, so only the
	// in-process cost shows), against tracing off (the global no-op provider).
	b.Run("chain+tracing", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		prev := otel.GetTracerProvider()
		otel.SetTracerProvider(tp)
		defer func() {
			otel.SetTracerProvider(prev)
			tp.Shutdown(context.Background())
		}()
		benchRouter(b, true)
	})
}

func benchRouter(b *testing.B, chain bool) {
	pubsub := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024, BlockPublishUntilSubscriberAck: false}, watermill.NopLogger{})
	defer pubsub.Close()
	var handled atomic.Int64
	allHandled := make(chan struct{})
	work := func(msg *message.Message) error {
		if _, err := contracts.Decode[contracts.BookRoom](msg); err != nil {
			return err
		}
		if handled.Add(1) == int64(b.N) {
			close(allHandled)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running chan struct{}
	if chain {
		r, err := messaging.NewRouter(messaging.RouterConfig{
			DeadLetters: pubsub, Logger: slog.New(slog.DiscardHandler),
			Outer: []message.HandlerMiddleware{telemetry.ConsumerMiddleware},
		})
		if err != nil {
			b.Fatal(err)
		}
		r.AddHandler(messaging.Handler{Name: "book_room", Topic: "bench", Subscriber: pubsub, Policy: messaging.DefaultRetryPolicy(), Handle: work})
		go r.Run(ctx)
		running = r.Running()
	} else {
		r, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
		if err != nil {
			b.Fatal(err)
		}
		r.AddConsumerHandler("book_room", "bench", pubsub, work)
		go r.Run(ctx)
		running = r.Running()
	}
	<-running
	msgs := make([]*message.Message, b.N)
	for i := range msgs {
		msgs[i], _ = contracts.NewMessage(context.Background(), contracts.BookRoom{BookingID: watermill.NewUUID()}, "b")
	}
	b.ResetTimer()
	cpu := testkit.ProcessCPU(b)
	for _, m := range msgs {
		if err := pubsub.Publish("bench", m); err != nil {
			b.Fatal(err)
		}
	}
	<-allHandled
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	testkit.ReportCPUPerOp(b, cpu)
}
