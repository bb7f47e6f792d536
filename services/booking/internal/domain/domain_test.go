package domain

import (
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
)

var hotel = Hotel{ID: "h", RoomTypes: []RoomType{{ID: "double", Capacity: 2, PricePerNight: 12000, Currency: "EUR", TotalRooms: 5}}}

func cmd(in, out string, guests int) contracts.BookRoom {
	return contracts.BookRoom{BookingID: "b", HotelID: "h", RoomType: "double", CheckIn: in, CheckOut: out, Guests: guests, RequestedAt: time.Now()}
}

func TestDecide(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name   string
		cmd    contracts.BookRoom
		known  bool
		reject string
		total  int64
	}{
		{"valid three nights", cmd("2030-05-01", "2030-05-04", 2), true, "", 36000},
		{"unknown hotel", cmd("2030-05-01", "2030-05-04", 2), false, contracts.ReasonUnknownRoomType, 0},
		{"check-out before check-in", cmd("2030-05-04", "2030-05-01", 2), true, contracts.ReasonInvalidStay, 0},
		{"31 nights", cmd("2030-05-01", "2030-06-01", 2), true, contracts.ReasonInvalidStay, 0},
		{"too many guests", cmd("2030-05-01", "2030-05-02", 3), true, contracts.ReasonInvalidStay, 0},
		{"zero guests", cmd("2030-05-01", "2030-05-02", 0), true, contracts.ReasonInvalidStay, 0},
		{"bad date", cmd("2030-13-01", "2030-05-02", 1), true, contracts.ReasonInvalidStay, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.cmd, hotel, tc.known, now, time.Hour)
			if d.Reject != tc.reject || d.Total.Amount != tc.total {
				t.Fatalf("got reject %q total %d, want %q %d", d.Reject, d.Total.Amount, tc.reject, tc.total)
			}
		})
	}
	unknownRoom := cmd("2030-05-01", "2030-05-02", 1)
	unknownRoom.RoomType = "suite"
	if d := Decide(unknownRoom, hotel, true, now, time.Hour); d.Reject != contracts.ReasonUnknownRoomType {
		t.Fatalf("unknown room type: %q", d.Reject)
	}
	old := cmd("2030-05-01", "2030-05-02", 1)
	old.RequestedAt = now.Add(-2 * time.Hour)
	if d := Decide(old, hotel, true, now, time.Hour); d.Reject != contracts.ReasonExpired {
		t.Fatalf("expired: %q", d.Reject)
	}
}

func TestTransition_OnlyAllowedMoves(t *testing.T) {
	const p, d, f, s = contracts.TaskPending, contracts.TaskDone, contracts.TaskFailedState, contracts.TaskSkipped
	cases := []struct {
		from, to, want string
		changed        bool
	}{
		{p, d, d, true}, {p, f, f, true}, {f, d, d, true},
		{d, f, d, false}, // a late failure never undoes done
		{d, d, d, false}, {f, f, f, false}, {s, d, s, false}, {d, p, d, false},
	}
	for _, c := range cases {
		got, changed := Transition(c.from, c.to)
		if got != c.want || changed != c.changed {
			t.Errorf("%s -> %s: got %s (changed %v), want %s (%v)", c.from, c.to, got, changed, c.want, c.changed)
		}
	}
}

func TestInitialTasks(t *testing.T) {
	if got := InitialTasks(contracts.StatusRejected); got.Voucher != contracts.TaskSkipped || got.Email != contracts.TaskSkipped || got.Notification != contracts.TaskPending {
		t.Fatalf("rejected: %+v", got)
	}
	if got := InitialTasks(contracts.StatusConfirmed); got.Voucher != contracts.TaskPending || got.Email != contracts.TaskPending {
		t.Fatalf("confirmed: %+v", got)
	}
}
