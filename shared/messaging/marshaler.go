package messaging

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/staybook/staybook/shared/contracts"
)

// Marshaler is Watermill's DefaultMarshaler made safe for what RabbitMQ adds:
// Watermill's fails on any non-string header (x-delivery-count on quorum
// queues, x-death after dead-lettering) before any middleware runs, and the
// message is nacked and redelivered forever. This one turns such headers into
// strings (tables and arrays as JSON). It also fills the AMQP message-id,
// correlation-id and timestamp properties, which the management UI shows.
type Marshaler struct{ amqp.DefaultMarshaler }

// Marshal encodes msg as a persistent AMQP publishing.
func (m Marshaler) Marshal(msg *message.Message) (amqp091.Publishing, error) {
	p, err := m.DefaultMarshaler.Marshal(msg)
	if err != nil {
		return p, err
	}
	p.MessageId = msg.UUID
	p.CorrelationId = middleware.MessageCorrelationID(msg)
	p.ContentType = "application/json"
	p.Type = msg.Metadata.Get(contracts.SchemaNameKey)
	if t, err := time.Parse(time.RFC3339Nano, msg.Metadata.Get(contracts.ProducedAtKey)); err == nil {
		p.Timestamp = t
	}
	return p, nil
}

// Unmarshal decodes a delivery, stringifying headers that are not strings.
func (m Marshaler) Unmarshal(d amqp091.Delivery) (*message.Message, error) {
	if len(d.Headers) > 0 {
		headers := make(amqp091.Table, len(d.Headers))
		for k, v := range d.Headers {
			headers[k] = HeaderString(v)
		}
		d.Headers = headers
	}
	return m.DefaultMarshaler.Unmarshal(d)
}

// HeaderString renders an AMQP header value as a string.
func HeaderString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case bool, int, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprint(v)
	default:
		b, err := json.Marshal(normalizeHeader(v))
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

func normalizeHeader(v any) any {
	switch v := v.(type) {
	case amqp091.Table:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalizeHeader(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalizeHeader(x)
		}
		return out
	case []byte:
		return string(v)
	case amqp091.Decimal:
		return fmt.Sprintf("%de-%d", v.Value, v.Scale)
	default:
		return v
	}
}
