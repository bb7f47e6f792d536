package contracts

import (
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

// FuzzDecode feeds every contract's decoder arbitrary payloads, names and
// versions: it must never panic, and every failure must be ErrMalformed (a
// permanent error, so the message is dead-lettered and never loops).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"booking_id":"b","hotel_id":"h","guests":2}`), "BookRoom", "1")
	f.Add([]byte(`{"booking_id":""}`), "BookingConfirmed", "1")
	f.Add([]byte(`not json`), "VoucherCreated", "1")
	f.Add([]byte(`{"booking_id":"b","task":"email"}`), "TaskFailed", "1")
	f.Add([]byte(`{"booking_id":"b","task":"teleport"}`), "TaskFailed", "1")
	f.Add([]byte(`{"service":"voucher","fail_rate":2}`), "FaultChanged", "1")
	f.Add([]byte(`{"booking_id":1e999}`), "BookingRejected", "2")
	f.Add([]byte("\x00\xff{"), "", "")
	f.Fuzz(func(t *testing.T, payload []byte, name, version string) {
		msg := message.NewMessage("m", payload)
		msg.Metadata.Set(SchemaNameKey, name)
		msg.Metadata.Set(SchemaVersionKey, version)
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
		}
		_, err := Decode[BookRoom](msg)
		check(err)
		_, err = Decode[BookingConfirmed](msg)
		check(err)
		_, err = Decode[BookingRejected](msg)
		check(err)
		_, err = Decode[VoucherCreated](msg)
		check(err)
		_, err = Decode[ConfirmationEmailSent](msg)
		check(err)
		_, err = Decode[CustomerNotified](msg)
		check(err)
		_, err = Decode[TaskFailed](msg)
		check(err)
		_, err = Decode[BookingStatusChanged](msg)
		check(err)
		_, err = Decode[FaultChanged](msg)
		check(err)
	})
}
