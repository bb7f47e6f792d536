package messaging

import (
	"encoding/binary"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// headerValue turns fuzz bytes into one of the value types AMQP headers can
// carry (the types amqp091 decodes a field table into).
func headerValue(kind byte, data []byte) any {
	n := int64(0)
	if len(data) >= 8 {
		n = int64(binary.LittleEndian.Uint64(data))
	}
	switch kind % 12 {
	case 0:
		return string(data)
	case 1:
		return data
	case 2:
		return int32(n)
	case 3:
		return n
	case 4:
		return float64(n) / 3
	case 5:
		return n%2 == 0
	case 6:
		return time.Unix(n%1e10, 0)
	case 7:
		return amqp091.Decimal{Scale: uint8(n), Value: int32(n)}
	case 8:
		return []any{string(data), n, amqp091.Table{"count": n}}
	case 9:
		return amqp091.Table{"x-death": []any{amqp091.Table{"queue": string(data), "count": n}}}
	case 10:
		return nil
	default:
		return uint8(n)
	}
}

// FuzzMarshalerUnmarshal: whatever headers a delivery carries, the
// marshaler turns them into string metadata and never fails; Watermill's
// own would fail before any middleware ran, and the message would loop.
func FuzzMarshalerUnmarshal(f *testing.F) {
	f.Add([]byte(`{}`), byte(2), []byte("x-delivery-count"), byte(9), []byte("x-death"))
	f.Add([]byte("not json"), byte(8), []byte{0, 1, 2, 3, 4, 5, 6, 7}, byte(7), []byte("d"))
	f.Add([]byte{}, byte(10), []byte{}, byte(6), []byte{255, 255, 255, 255, 255, 255, 255, 127})
	f.Fuzz(func(t *testing.T, body []byte, k1 byte, v1 []byte, k2 byte, v2 []byte) {
		d := amqp091.Delivery{Body: body, Headers: amqp091.Table{
			"h1": headerValue(k1, v1), "h2": headerValue(k2, v2),
			"_watermill_message_uuid": headerValue(k1+k2, v1),
		}}
		msg, err := Marshaler{}.Unmarshal(d)
		if err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if string(msg.Payload) != string(body) {
			t.Fatal("payload changed")
		}
		if _, ok := msg.Metadata["h1"]; !ok {
			t.Fatal("header h1 lost")
		}
	})
}
