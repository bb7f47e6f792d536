package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"
)

// SyntheticKey is the span attribute that marks synthetic traffic (the
// load test): its value names the source, e.g. "loadtest". In Jaeger,
// search with the tag staybook.synthetic=loadtest to find it, or filter
// it out of what customers did.
const SyntheticKey = attribute.Key("staybook.synthetic")

// SyntheticBaggage is the W3C baggage member a client sets to mark its
// requests as synthetic ("baggage: staybook.synthetic=loadtest"). Baggage
// travels with the trace context, through the messages and the outbox, so
// every service marks its spans of that booking too.
const SyntheticBaggage = "staybook.synthetic"

// markSynthetic sets SyntheticKey on span when ctx's baggage says the
// traffic is synthetic.
func markSynthetic(ctx context.Context, span trace.Span) {
	if v := baggage.FromContext(ctx).Member(SyntheticBaggage).Value(); v != "" {
		span.SetAttributes(SyntheticKey.String(v))
	}
}
