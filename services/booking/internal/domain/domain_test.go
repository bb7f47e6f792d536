package domain

import (
	"errors"
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

// The edges of the rules: each case sits on one side of a boundary, so a
// comparison turned the other way (> into >=, < into <=) fails one of them.
func TestDecide_Boundaries(t *testing.T) {
	now := time.Now()
	at := func(c contracts.BookRoom, requested time.Time) contracts.BookRoom {
		c.RequestedAt = requested
		return c
	}
	cases := []struct {
		name   string
		cmd    contracts.BookRoom // requested just now unless at() says otherwise
		ttl    time.Duration
		reject string
		total  int64
	}{
		{"one night, the shortest stay", cmd("2030-05-01", "2030-05-02", 1), time.Hour, "", 12000},
		{"check-out on the check-in day", cmd("2030-05-01", "2030-05-01", 1), time.Hour, contracts.ReasonInvalidStay, 0},
		{"MaxNights (30) nights, the longest stay", cmd("2030-05-01", "2030-05-31", 2), time.Hour, "", 30 * 12000},
		{"MaxNights + 1 nights", cmd("2030-05-01", "2030-06-01", 2), time.Hour, contracts.ReasonInvalidStay, 0},
		{"guests = capacity", cmd("2030-05-01", "2030-05-02", 2), time.Hour, "", 12000},
		{"one guest", cmd("2030-05-01", "2030-05-02", 1), time.Hour, "", 12000},
		{"requested exactly ttl ago", at(cmd("2030-05-01", "2030-05-02", 1), now.Add(-time.Hour)), time.Hour, "", 12000},
		{"requested just over ttl ago", at(cmd("2030-05-01", "2030-05-02", 1), now.Add(-time.Hour-time.Nanosecond)), time.Hour, contracts.ReasonExpired, 0},
		// A command without requested_at (an older producer) is judged on
		// its merits, not rejected as 2,000 years old.
		{"no requested_at", at(cmd("2030-05-01", "2030-05-02", 1), time.Time{}), time.Hour, "", 12000},
		{"ttl 0 turns expiry off", at(cmd("2030-05-01", "2030-05-02", 1), now.AddDate(-1, 0, 0)), 0, "", 12000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.cmd, hotel, true, now, tc.ttl)
			if d.Reject != tc.reject || d.Total.Amount != tc.total {
				t.Fatalf("got reject %q total %d, want %q %d", d.Reject, d.Total.Amount, tc.reject, tc.total)
			}
		})
	}
}

func TestDecide_AcceptedCarriesTheHotelRoomStayAndPrice(t *testing.T) {
	d := Decide(cmd("2030-05-01", "2030-05-04", 2), hotel, true, time.Now(), time.Hour)
	want := Stay{CheckIn: time.Date(2030, 5, 1, 0, 0, 0, 0, time.UTC), CheckOut: time.Date(2030, 5, 4, 0, 0, 0, 0, time.UTC)}
	if d.Reject != "" || d.Hotel.ID != "h" || d.RoomType.ID != "double" || d.Stay != want ||
		d.Total != (contracts.Money{Amount: 36000, Currency: "EUR"}) {
		t.Fatalf("decision %+v", d)
	}
}

func TestParseStay(t *testing.T) {
	cases := []struct {
		in, out string
		nights  int // 0: rejected
	}{
		{"2030-05-01", "2030-05-02", 1},
		{"2030-05-01", "2030-05-31", MaxNights},
		{"2030-05-01", "2030-06-01", 0},
		{"2030-05-02", "2030-05-01", 0},
		{"2030-05-01", "2030-05-01", 0},
		{"2030-02-27", "2030-03-02", 3}, // across the end of February
		{"2030-5-1", "2030-05-02", 0},
		{"2030-05-01", "tomorrow", 0},
	}
	for _, c := range cases {
		s, err := ParseStay(c.in, c.out)
		switch {
		case c.nights == 0 && !errors.Is(err, ErrInvalidStay):
			t.Errorf("%s to %s: err %v, want ErrInvalidStay", c.in, c.out, err)
		case c.nights > 0 && (err != nil || s.Nights() != c.nights):
			t.Errorf("%s to %s: %d nights, err %v; want %d", c.in, c.out, s.Nights(), err, c.nights)
		}
	}
}

func TestHotel_RoomType(t *testing.T) {
	h := Hotel{RoomTypes: []RoomType{{ID: "single"}, {ID: "double", Capacity: 2}}}
	if rt, ok := h.RoomType("double"); !ok || rt.Capacity != 2 {
		t.Fatalf("double: %+v %v", rt, ok)
	}
	if _, ok := h.RoomType("suite"); ok {
		t.Fatal("found a room type the hotel does not have")
	}
}

func TestBooking_SetTaskChangesOnlyTheNamedTask(t *testing.T) {
	b := Booking{Tasks: InitialTasks(contracts.StatusConfirmed)}
	for _, task := range []string{contracts.TaskVoucher, contracts.TaskEmail, contracts.TaskNotification} {
		changed, err := b.SetTask(task, contracts.TaskDone)
		if err != nil || !changed {
			t.Fatalf("%s: changed %v, err %v", task, changed, err)
		}
		if changed, _ := b.SetTask(task, contracts.TaskDone); changed {
			t.Fatalf("%s: done twice counted as a change", task)
		}
	}
	if b.Tasks != (contracts.Tasks{Voucher: "done", Email: "done", Notification: "done"}) {
		t.Fatalf("tasks %+v", b.Tasks)
	}
	b = Booking{Tasks: InitialTasks(contracts.StatusConfirmed)}
	b.SetTask(contracts.TaskEmail, contracts.TaskFailedState)
	if b.Tasks != (contracts.Tasks{Voucher: "pending", Email: "failed", Notification: "pending"}) {
		t.Fatalf("after the email failed: %+v", b.Tasks)
	}
	if _, err := b.SetTask("teleport", contracts.TaskDone); err == nil {
		t.Fatal("unknown task accepted")
	}
}

func TestBooking_StatusChanged(t *testing.T) {
	now := time.Now()
	b := Booking{ID: "b", Version: 3, Status: contracts.StatusRejected, Reason: contracts.ReasonSoldOut, Tasks: InitialTasks(contracts.StatusRejected)}
	got := b.StatusChanged(now)
	want := contracts.BookingStatusChanged{BookingID: "b", Version: 3, Status: "rejected", Reason: "sold_out", Tasks: b.Tasks, ChangedAt: now}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
