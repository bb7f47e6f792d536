package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/shared/logging"
)

type capture struct{ msgs []*message.Message }

func (c *capture) Publish(_ string, msgs ...*message.Message) error {
	c.msgs = append(c.msgs, msgs...)
	return nil
}
func (c *capture) Close() error { return nil }

func setupRecorder(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(Propagator())
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

func TestTraceCrossesPublishOutboxAndConsume(t *testing.T) {
	rec := setupRecorder(t)
	ctx, root := Tracer().Start(context.Background(), "POST /api/bookings")
	traceID := root.SpanContext().TraceID()

	// 1. the handler writes the event to the outbox (decorated outbox publisher)
	outboxRows := &capture{}
	msg := message.NewMessage("m1", []byte(`{}`))
	msg.SetContext(ctx)
	if err := Publisher(outboxRows, "postgresql").Publish("events.BookingConfirmed", msg); err != nil {
		t.Fatal(err)
	}
	root.End()
	if msg.Metadata.Get("traceparent") == "" {
		t.Fatal("no traceparent in metadata")
	}

	// 2. the forwarder reads it back: a fresh message, no span in its context
	forwarded := message.NewMessage("m1", msg.Payload)
	forwarded.Metadata = copyMeta(msg.Metadata)
	broker := &capture{}
	if err := Publisher(broker, "rabbitmq").Publish("events.BookingConfirmed", forwarded); err != nil {
		t.Fatal(err)
	}

	// 3. a consumer in another service
	delivered := message.NewMessage("m1", forwarded.Payload)
	delivered.Metadata = copyMeta(forwarded.Metadata)
	var handlerCtx context.Context
	_, err := ConsumerMiddleware(func(m *message.Message) ([]*message.Message, error) {
		handlerCtx = m.Context()
		return nil, nil
	})(delivered)
	if err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	if len(spans) != 4 {
		t.Fatalf("%d spans, want 4 (root, outbox send, broker send, process)", len(spans))
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %q in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
	}
	// spans end in the order: outbox send, root, broker send, process;
	// each is the child of the one that caused it.
	outboxSend, rootSpan, brokerSend, process := spans[0], spans[1], spans[2], spans[3]
	for _, link := range [][2]sdktrace.ReadOnlySpan{{outboxSend, rootSpan}, {brokerSend, outboxSend}, {process, brokerSend}} {
		if link[0].Parent().SpanID() != link[1].SpanContext().SpanID() {
			t.Errorf("span %q (%s) is not the child of %q", link[0].Name(), link[0].SpanKind(), link[1].Name())
		}
	}
	if process.SpanKind() != trace.SpanKindConsumer || brokerSend.SpanKind() != trace.SpanKindProducer {
		t.Errorf("kinds %v %v", brokerSend.SpanKind(), process.SpanKind())
	}

	// a log line written while handling carries the trace ID
	var buf bytes.Buffer
	logging.RegisterExtractor(logAttrs)
	logging.NewWithWriter(&buf, "voucher", "info", "json").InfoContext(handlerCtx, "handled")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line["trace_id"] != traceID.String() {
		t.Fatalf("log line trace_id %v, want %s", line["trace_id"], traceID)
	}
}

func TestSetup_NoEndpointMeansNoExportAndNoError(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	shutdown, err := Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	if _, err := Setup(context.Background(), "test"); err == nil {
		t.Fatal("unsupported exporter accepted")
	}
}

func copyMeta(m message.Metadata) message.Metadata {
	out := message.Metadata{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
