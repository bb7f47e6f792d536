package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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

// otlpCollector counts the OTLP/HTTP trace exports it receives.
type otlpCollector struct {
	*httptest.Server
	exports atomic.Int32
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			c.exports.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.Close)
	return c
}

// exportOneSpan sets telemetry up from the environment, ends one span and
// shuts down (which flushes whatever would be exported).
func exportOneSpan(t *testing.T) {
	t.Helper()
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	shutdown, err := Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	_, span := Tracer().Start(context.Background(), "work")
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The collector sees the export when an endpoint is set: the check below
// that it sees none can fail.
func TestSetup_AnEndpointExportsTheSpans(t *testing.T) {
	c := newOTLPCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	exportOneSpan(t)
	if n := c.exports.Load(); n != 1 {
		t.Fatalf("%d exports, want 1", n)
	}
}

func TestSetup_NoneExportsNothing(t *testing.T) {
	c := newOTLPCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	exportOneSpan(t)
	if n := c.exports.Load(); n != 0 {
		t.Fatalf("OTEL_TRACES_EXPORTER=none: %d exports, want none", n)
	}
}

// Without an endpoint the SDK would export to localhost:4318 (where a
// `make dev` Jaeger may listen): no exporter is built at all.
func TestSetup_NoEndpointMeansNoExporterAndNoError(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	exp, err := newExporter(context.Background())
	if err != nil || exp != nil {
		t.Fatalf("exporter %v, err %v; want none", exp, err)
	}
	exportOneSpan(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	if _, err := Setup(context.Background(), "test"); err == nil {
		t.Fatal("unsupported exporter accepted")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	if _, err := Setup(context.Background(), "test"); err == nil {
		t.Fatal("unsupported protocol accepted")
	}
}

func copyMeta(m message.Metadata) message.Metadata {
	out := message.Metadata{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
