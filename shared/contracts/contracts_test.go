package contracts

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

func TestNewMessage_CarriesNameVersionTimeAndBooking(t *testing.T) {
	before := time.Now().UTC()
	msg, err := NewMessage(context.Background(), BookRoom{BookingID: "b-1", Guests: 2}, "b-1")
	if err != nil {
		t.Fatal(err)
	}
	if msg.UUID == "" || msg.Metadata.Get(SchemaNameKey) != "BookRoom" || msg.Metadata.Get(SchemaVersionKey) != "1" ||
		middleware.MessageCorrelationID(msg) != "b-1" {
		t.Fatalf("metadata %v, uuid %q", msg.Metadata, msg.UUID)
	}
	if at := ProducedAt(msg); at.Before(before) || at.After(time.Now().UTC()) {
		t.Fatalf("produced at %s, not between %s and now", at, before)
	}
	got, err := Decode[BookRoom](msg)
	if err != nil || got.BookingID != "b-1" || got.Guests != 2 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
}

func TestProducedAt_UnknownIsZero(t *testing.T) {
	if at := ProducedAt(message.NewMessage("m", nil)); !at.IsZero() {
		t.Fatalf("produced at %s for a message without the key", at)
	}
}

func message1(name, version, payload string) *message.Message {
	msg := message.NewMessage("m", []byte(payload))
	msg.Metadata.Set(SchemaNameKey, name)
	msg.Metadata.Set(SchemaVersionKey, version)
	return msg
}

// Every way a message can be wrong is ErrMalformed (dead-lettered at once),
// and a right one decodes: a Decode that accepted anything, or refused
// everything, fails here.
func TestDecode_RejectsWhatItCannotHandle(t *testing.T) {
	cases := []struct {
		name string
		msg  *message.Message
	}{
		{"another message's name", message1("BookingConfirmed", "1", `{"booking_id":"b"}`)},
		{"no name", message1("", "1", `{"booking_id":"b"}`)},
		{"a newer version", message1("BookRoom", "2", `{"booking_id":"b"}`)},
		{"no version", message1("BookRoom", "", `{"booking_id":"b"}`)},
		{"not JSON", message1("BookRoom", "1", `booking b`)},
		{"a field of the wrong type", message1("BookRoom", "1", `{"booking_id":"b","guests":"two"}`)},
		{"no booking ID", message1("BookRoom", "1", `{"hotel_id":"h"}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode[BookRoom](c.msg)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed", err)
			}
			if got != (BookRoom{}) {
				t.Fatalf("a rejected message decoded to %+v", got)
			}
		})
	}
	got, err := Decode[BookRoom](message1("BookRoom", "1", `{"booking_id":"b","guests":2,"unknown_field":true}`))
	if err != nil || got.BookingID != "b" || got.Guests != 2 {
		t.Fatalf("a valid command (unknown fields ignored): %+v, %v", got, err)
	}
}

// Each contract's own rule: what the consumer needs to do anything at all.
func TestValidate_EachContractsRequiredFields(t *testing.T) {
	type check struct {
		name    string
		payload string
		ok      bool
		decode  func(*message.Message) error
	}
	cases := []check{
		{"BookingConfirmed", `{"booking_id":"b"}`, true, decodeErr[BookingConfirmed]},
		{"BookingConfirmed", `{}`, false, decodeErr[BookingConfirmed]},
		{"BookingRejected", `{"booking_id":"b"}`, true, decodeErr[BookingRejected]},
		{"BookingRejected", `{}`, false, decodeErr[BookingRejected]},
		{"VoucherCreated", `{"booking_id":"b"}`, true, decodeErr[VoucherCreated]},
		{"VoucherCreated", `{}`, false, decodeErr[VoucherCreated]},
		{"ConfirmationEmailSent", `{"booking_id":"b"}`, true, decodeErr[ConfirmationEmailSent]},
		{"ConfirmationEmailSent", `{}`, false, decodeErr[ConfirmationEmailSent]},
		{"CustomerNotified", `{"booking_id":"b"}`, true, decodeErr[CustomerNotified]},
		{"CustomerNotified", `{}`, false, decodeErr[CustomerNotified]},
		{"BookingStatusChanged", `{"booking_id":"b"}`, true, decodeErr[BookingStatusChanged]},
		{"BookingStatusChanged", `{}`, false, decodeErr[BookingStatusChanged]},
		{"TaskFailed", `{"booking_id":"b","task":"voucher"}`, true, decodeErr[TaskFailed]},
		{"TaskFailed", `{"booking_id":"b","task":"email"}`, true, decodeErr[TaskFailed]},
		{"TaskFailed", `{"booking_id":"b","task":"notification"}`, true, decodeErr[TaskFailed]},
		{"TaskFailed", `{"booking_id":"b","task":"teleport"}`, false, decodeErr[TaskFailed]},
		{"TaskFailed", `{"task":"email"}`, false, decodeErr[TaskFailed]},
		{"FaultChanged", `{"service":"voucher","fail_rate":0,"mode":"transient"}`, true, decodeErr[FaultChanged]},
		{"FaultChanged", `{"service":"voucher","fail_rate":1,"mode":"permanent"}`, true, decodeErr[FaultChanged]},
		{"FaultChanged", `{"service":"voucher","fail_rate":0.5,"mode":"panic"}`, true, decodeErr[FaultChanged]},
		{"FaultChanged", `{"service":"voucher","clear":true,"fail_rate":7}`, true, decodeErr[FaultChanged]},
		{"FaultChanged", `{"fail_rate":0.5,"mode":"panic"}`, false, decodeErr[FaultChanged]},
		{"FaultChanged", `{"service":"voucher","fail_rate":-0.1,"mode":"transient"}`, false, decodeErr[FaultChanged]},
		{"FaultChanged", `{"service":"voucher","fail_rate":1.1,"mode":"transient"}`, false, decodeErr[FaultChanged]},
		{"FaultChanged", `{"service":"voucher","fail_rate":0.5,"mode":"slow"}`, false, decodeErr[FaultChanged]},
	}
	for _, c := range cases {
		err := c.decode(message1(c.name, "1", c.payload))
		switch {
		case c.ok && err != nil:
			t.Errorf("%s %s rejected: %v", c.name, c.payload, err)
		case !c.ok && !errors.Is(err, ErrMalformed):
			t.Errorf("%s %s: err %v, want ErrMalformed", c.name, c.payload, err)
		}
	}
}

func decodeErr[T Contract](msg *message.Message) error {
	_, err := Decode[T](msg)
	return err
}
