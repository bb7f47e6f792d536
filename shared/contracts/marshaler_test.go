package contracts_test

import (
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/staybook/staybook/shared/contracts"
)

func TestMarshaler_RoundTripKeepsNameVersionAndCorrelation(t *testing.T) {
	m := contracts.Marshaler{}
	msg, err := m.Marshal(contracts.VoucherCreated{BookingID: "b1", HotelName: "Adlon"})
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Metadata.Get(contracts.SchemaNameKey); got != "VoucherCreated" {
		t.Errorf("name %q", got)
	}
	if got := msg.Metadata.Get(contracts.SchemaVersionKey); got != "1" {
		t.Errorf("version %q", got)
	}
	if got := middleware.MessageCorrelationID(msg); got != "b1" {
		t.Errorf("correlation ID %q", got)
	}
	if contracts.ProducedAt(msg).IsZero() {
		t.Error("no produced_at")
	}
	if m.NameFromMessage(msg) != m.Name(&contracts.VoucherCreated{}) || m.Name(contracts.VoucherCreated{}) != "VoucherCreated" {
		t.Error("Name and NameFromMessage disagree")
	}
	var back contracts.VoucherCreated
	if err := m.Unmarshal(msg, &back); err != nil {
		t.Fatal(err)
	}
	if back.BookingID != "b1" || back.HotelName != "Adlon" {
		t.Errorf("decoded %+v", back)
	}
}

func TestMarshaler_RefusesAnotherVersionNameOrAnInvalidPayloadAsMalformed(t *testing.T) {
	m := contracts.Marshaler{}
	good, err := m.Marshal(contracts.BookingRejected{BookingID: "b2", Reason: "sold_out"})
	if err != nil {
		t.Fatal(err)
	}
	otherVersion := good.Copy()
	otherVersion.Metadata.Set(contracts.SchemaVersionKey, "2")
	otherName := good.Copy()
	otherName.Metadata.Set(contracts.SchemaNameKey, "BookingConfirmed")
	noID, err := m.Marshal(contracts.BookingRejected{Reason: "sold_out"})
	if err != nil {
		t.Fatal(err)
	}
	notJSON := good.Copy()
	notJSON.Payload = []byte("{")
	for name, msg := range map[string]*message.Message{"version": otherVersion, "name": otherName, "invalid": noID, "json": notJSON} {
		var v contracts.BookingRejected
		if err := m.Unmarshal(msg, &v); !errors.Is(err, contracts.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	var v contracts.BookingRejected
	if err := m.Unmarshal(good, &v); err != nil || v.Reason != "sold_out" {
		t.Errorf("good message: %v %+v", err, v)
	}
}
