package telemetry

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// BookingIDKey is the span attribute that finds a booking's trace in Jaeger.
const BookingIDKey = attribute.Key("booking.id")

// MetadataCarrier adapts Watermill message metadata to OpenTelemetry propagation.
type MetadataCarrier message.Metadata

func (c MetadataCarrier) Get(key string) string { return message.Metadata(c).Get(key) }
func (c MetadataCarrier) Set(key, value string) { message.Metadata(c).Set(key, value) }
func (c MetadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns ctx with the trace context carried in msg's metadata.
func Extract(ctx context.Context, msg *message.Message) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, MetadataCarrier(msg.Metadata))
}

// Inject writes the trace context of ctx into msg's metadata.
func Inject(ctx context.Context, msg *message.Message) {
	otel.GetTextMapPropagator().Inject(ctx, MetadataCarrier(msg.Metadata))
}

type tracingPublisher struct {
	message.Publisher
	system string
}

// Publisher decorates pub: every message gets a producer span ("send
// <topic>") whose context is written into its metadata. When the message's
// own context holds no span (the outbox forwarder publishes messages read
// back from the database), the parent comes from the metadata, so the trace
// survives the outbox. system is the messaging.system attribute ("rabbitmq",
// or "postgresql" for the outbox table).
func Publisher(pub message.Publisher, system string) message.Publisher {
	return tracingPublisher{Publisher: pub, system: system}
}

func (p tracingPublisher) Publish(topic string, msgs ...*message.Message) error {
	ends := make([]trace.Span, 0, len(msgs))
	for _, msg := range msgs {
		ctx := msg.Context()
		if !trace.SpanContextFromContext(ctx).IsValid() {
			ctx = Extract(ctx, msg)
		}
		ctx, span := Tracer().Start(ctx, "send "+topic,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				semconv.MessagingSystemKey.String(p.system),
				semconv.MessagingDestinationName(topic),
				semconv.MessagingMessageID(msg.UUID),
				semconv.MessagingOperationTypeSend,
				semconv.MessagingOperationName("send"),
				BookingIDKey.String(middleware.MessageCorrelationID(msg)),
			))
		markSynthetic(ctx, span)
		Inject(ctx, msg)
		msg.SetContext(ctx)
		ends = append(ends, span)
	}
	err := p.Publisher.Publish(topic, msgs...)
	for _, span := range ends {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	return err
}

// ConsumerMiddleware starts a consumer span ("process <topic>") for every
// message a handler receives, as a child of the producer span whose context
// the message carries: a booking is one trace from the browser's request to
// the last email. (Span links would be the choice for batch consumers or
// fan-in; here each message has exactly one cause.)
func ConsumerMiddleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := Extract(msg.Context(), msg)
		topic := message.SubscribeTopicFromCtx(msg.Context())
		handler := message.HandlerNameFromCtx(msg.Context())
		ctx, span := Tracer().Start(ctx, "process "+topic,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				semconv.MessagingSystemRabbitMQ,
				semconv.MessagingDestinationName(topic),
				semconv.MessagingMessageID(msg.UUID),
				semconv.MessagingOperationTypeProcess,
				semconv.MessagingOperationName("process"),
				semconv.MessagingConsumerGroupName(handler),
				BookingIDKey.String(middleware.MessageCorrelationID(msg)),
				attribute.String("messaging.handler", handler),
			))
		defer span.End()
		markSynthetic(ctx, span)
		msg.SetContext(ctx)
		out, err := h(msg)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return out, err
	}
}

// Propagator is the composite propagator Setup installs (for tests that
// do not call Setup).
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}
