package telemetry

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

func TestHTTPHandler_AnswersWithTheRequestsTraceparent(t *testing.T) {
	rec := setupRecorder(t)
	var seen string
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = TraceID(r.Context())
		w.WriteHeader(http.StatusAccepted)
	}), "web")

	// A caller that sends its own trace context: the answer continues it.
	req := httptest.NewRequest(http.MethodPost, "/api/bookings", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	got := w.Header().Get(TraceparentHeader)
	if !strings.HasPrefix(got, "00-"+callerTrace+"-") || got == req.Header.Get("traceparent") {
		t.Errorf("traceparent answered %q: want the caller's trace with the server span's ID", got)
	}
	if seen != callerTrace {
		t.Errorf("TraceID in the handler = %q, want %q", seen, callerTrace)
	}
	spans := rec.Ended()
	if len(spans) != 1 || !strings.HasSuffix(got, "-"+spans[0].SpanContext().SpanID().String()+"-01") {
		t.Fatalf("answered %q; spans %v: want the server span's ID", got, spans)
	}

	// A caller without one: a new trace, still answered.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/hotels", nil))
	if got := w.Header().Get(TraceparentHeader); len(got) != 55 || strings.Contains(got, callerTrace) {
		t.Errorf("traceparent answered %q: want a new trace context", got)
	}

	// Health checks are not traced, and get no header.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if got := w.Header().Get(TraceparentHeader); got != "" {
		t.Errorf("/readyz answered traceparent %q", got)
	}
}

func TestSyntheticBaggage_MarksEverySpanOfTheBooking(t *testing.T) {
	rec := setupRecorder(t)
	broker := &capture{}
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := message.NewMessage("m1", []byte(`{}`))
		msg.SetContext(r.Context())
		if err := Publisher(broker, "rabbitmq").Publish("commands.BookRoom", msg); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusAccepted)
	}), "web")
	req := httptest.NewRequest(http.MethodPost, "/api/bookings", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	req.Header.Set("baggage", SyntheticBaggage+"=loadtest")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if len(broker.msgs) != 1 {
		t.Fatalf("published %d messages", len(broker.msgs))
	}

	// The consumer in another service sees the mark through the metadata.
	consumed := message.NewMessage("m1", nil)
	consumed.Metadata = copyMeta(broker.msgs[0].Metadata)
	if _, err := ConsumerMiddleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })(consumed); err != nil {
		t.Fatal(err)
	}

	// And an ordinary request is not marked.
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/bookings", nil))

	spans := rec.Ended()
	if len(spans) != 5 {
		t.Fatalf("%d spans, want server, producer, consumer, and another server and producer", len(spans))
	}
	for _, s := range spans {
		want := "loadtest"
		if s.SpanContext().TraceID().String() != callerTrace {
			want = ""
		}
		if got := attr(s, SyntheticKey); got != want {
			t.Errorf("span %q of trace %s: %s = %q, want %q", s.Name(), s.SpanContext().TraceID(), SyntheticKey, got, want)
		}
	}
}

func TestHTTPHandler_ANotSampledCallerLeavesNoSpans(t *testing.T) {
	rec := setupRecorder(t)
	h := HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), "web")
	req := httptest.NewRequest(http.MethodGet, "/api/bookings/x", nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-00") // the load test's status reads
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans recorded for a not-sampled caller, want none (the parent-based sampler follows the flag)", n)
	}
	if got := w.Header().Get(TraceparentHeader); !strings.HasPrefix(got, "00-"+callerTrace+"-") || !strings.HasSuffix(got, "-00") {
		t.Errorf("traceparent answered %q: want the caller's trace, not sampled", got)
	}
}
