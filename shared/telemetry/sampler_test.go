package telemetry

import (
	"context"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// samplerRecorder installs a provider with the sampler the environment
// chooses and records what it samples.
func samplerRecorder(t *testing.T, sampler, arg string) *tracetest.SpanRecorder {
	t.Helper()
	t.Setenv("OTEL_TRACES_SAMPLER", sampler)
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", arg)
	s, err := Sampler()
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(s), sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(Propagator())
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	return rec
}

// consume runs a consumer span for a message published with the given
// metadata (what a service in another process receives).
func consume(t *testing.T, meta message.Metadata) {
	t.Helper()
	msg := message.NewMessage("m1", nil)
	msg.Metadata = copyMeta(meta)
	if _, err := ConsumerMiddleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })(msg); err != nil {
		t.Fatal(err)
	}
}

// publish starts a booking's trace (the front door's span) and publishes
// one message in it; it returns the message's metadata.
func publish(t *testing.T) message.Metadata {
	t.Helper()
	ctx, root := Tracer().Start(context.Background(), "POST /api/bookings")
	defer root.End()
	msg := message.NewMessage("m1", []byte(`{}`))
	msg.SetContext(ctx)
	broker := &capture{}
	if err := Publisher(broker, "rabbitmq").Publish("commands.BookRoom", msg); err != nil {
		t.Fatal(err)
	}
	return broker.msgs[0].Metadata
}

// The default follows the producer: a sampled booking is recorded whole
// in the consumer, a not-sampled one (the flag in the message's
// traceparent) not at all.
func TestSampler_DefaultIsParentBasedAlwaysOn(t *testing.T) {
	rec := samplerRecorder(t, "", "")
	meta := publish(t)
	if tp := meta.Get("traceparent"); !strings.HasSuffix(tp, "-01") {
		t.Fatalf("traceparent %q: a new trace must be sampled by default", tp)
	}
	consume(t, meta)
	if n := len(rec.Ended()); n != 3 {
		t.Fatalf("%d spans, want 3 (front door, send, process)", n)
	}

	notSampled := copyMeta(meta)
	notSampled.Set("traceparent", strings.TrimSuffix(meta.Get("traceparent"), "-01")+"-00")
	consume(t, notSampled)
	if n := len(rec.Ended()); n != 3 {
		t.Fatalf("%d spans after consuming a not-sampled message, want still 3", n)
	}

	t.Setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
	if s, err := Sampler(); err != nil || !strings.HasPrefix(s.Description(), "ParentBased{root:AlwaysOnSampler") {
		t.Fatalf("sampler %v, err %v", s, err)
	}
}

func TestSampler_RatioZeroRecordsNothing(t *testing.T) {
	rec := samplerRecorder(t, "traceidratio", "0")
	consume(t, publish(t))
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("traceidratio 0: %d spans recorded, want none", n)
	}
}

// A consumer with a ratio of 0 still records a booking the front door
// sampled: it follows the decision carried in the message.
func TestSampler_ParentBasedRatioFollowsTheProducer(t *testing.T) {
	samplerRecorder(t, "", "")
	meta := publish(t) // the front door, sampling everything
	rec := samplerRecorder(t, "parentbased_traceidratio", "0")
	consume(t, meta)
	if n := len(rec.Ended()); n != 1 {
		t.Fatalf("%d consumer spans, want 1: the producer sampled the booking", n)
	}
	publish(t) // a new trace in this service: ratio 0
	if n := len(rec.Ended()); n != 1 {
		t.Fatalf("%d spans, want still 1: a new trace is sampled at ratio 0", n)
	}
}

func TestSampler_RatioOneRecordsEverything(t *testing.T) {
	rec := samplerRecorder(t, "TraceIdRatio", " 1 ")
	consume(t, publish(t))
	if n := len(rec.Ended()); n != 3 {
		t.Fatalf("%d spans, want 3", n)
	}
}

func TestSampler_BadValuesAreErrors(t *testing.T) {
	for _, c := range []struct{ sampler, arg, want string }{
		{"jaeger_remote", "", "OTEL_TRACES_SAMPLER"},
		{"always-on", "", "OTEL_TRACES_SAMPLER"},
		{"traceidratio", "half", "OTEL_TRACES_SAMPLER_ARG"},
		{"parentbased_traceidratio", "1.5", "OTEL_TRACES_SAMPLER_ARG"},
		{"traceidratio", "-0.1", "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Setenv("OTEL_TRACES_SAMPLER", c.sampler)
		t.Setenv("OTEL_TRACES_SAMPLER_ARG", c.arg)
		if _, err := Sampler(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: err %v, want one naming %s", c.sampler, c.arg, err, c.want)
		}
		if _, err := Setup(context.Background(), "test"); err == nil {
			t.Errorf("%s %q: Setup accepted it", c.sampler, c.arg)
		}
	}
}

// Setup uses the sampler: with a ratio of 0, the collector gets nothing.
func TestSetup_SamplerFromTheEnvironment(t *testing.T) {
	c := newOTLPCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.URL)
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_TRACES_SAMPLER", "traceidratio")
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "0")
	exportOneSpan(t)
	if n := c.exports.Load(); n != 0 {
		t.Fatalf("traceidratio 0: %d exports, want none", n)
	}
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "1")
	exportOneSpan(t)
	if n := c.exports.Load(); n != 1 {
		t.Fatalf("traceidratio 1: %d exports, want 1", n)
	}
}
