package contracts

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Correlated is a contract about one booking: its ID becomes the message's
// correlation ID (Watermill's correlation key), which logs, dead letters and
// traces carry.
type Correlated interface {
	CorrelationID() string
}

// Marshaler is the cqrs.CommandEventMarshaler of every Staybook message: the
// payload is the contract's JSON; the metadata carries its name
// (SchemaNameKey), its schema version, when it was produced and the booking
// it is about. Unmarshal refuses another version, an undecodable payload or
// one that fails the contract's Validate, with an error wrapping
// ErrMalformed (dead-lettered at once: it will never succeed).
type Marshaler struct{}

var _ cqrs.CommandEventMarshaler = Marshaler{}

// Marshal builds a message for v, a Contract, with a fresh UUID.
func (Marshaler) Marshal(v any) (*message.Message, error) {
	c, ok := v.(Contract)
	if !ok {
		return nil, fmt.Errorf("contracts: %T is not a Contract", v)
	}
	msg, err := newMessage(c)
	if err != nil {
		return nil, err
	}
	if cor, ok := v.(Correlated); ok {
		middleware.SetCorrelationID(cor.CorrelationID(), msg)
	}
	return msg, nil
}

// Unmarshal decodes msg into v, a pointer to a Contract, checking its name
// and version first.
func (m Marshaler) Unmarshal(msg *message.Message, v any) error {
	c, ok := v.(Contract)
	if !ok {
		return fmt.Errorf("contracts: %T is not a Contract", v)
	}
	if name := m.NameFromMessage(msg); name != c.SchemaName() {
		return fmt.Errorf("%w: message name %q, want %q", ErrMalformed, name, c.SchemaName())
	}
	if ver := msg.Metadata.Get(SchemaVersionKey); ver != versionString(c) {
		return fmt.Errorf("%w: %s schema version %q, want %d", ErrMalformed, c.SchemaName(), ver, c.SchemaVersion())
	}
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		return fmt.Errorf("%w: decode %s: %v", ErrMalformed, c.SchemaName(), err)
	}
	if vv, ok := v.(interface{ Validate() error }); ok {
		if err := vv.Validate(); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, c.SchemaName(), err)
		}
	}
	return nil
}

// Name is the contract's name ("BookingConfirmed"); v may be a value or a pointer.
func (Marshaler) Name(v any) string {
	if c, ok := v.(Contract); ok {
		return c.SchemaName()
	}
	return fmt.Sprintf("%T", v)
}

// NameFromMessage is the name the message says it carries.
func (Marshaler) NameFromMessage(msg *message.Message) string {
	return msg.Metadata.Get(SchemaNameKey)
}
