package chaos

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func booking(accepted, settled float64) Booking {
	b := Booking{AcceptedAt: at(accepted)}
	if settled > 0 {
		b.SettledAt = at(settled)
	}
	return b
}

func TestRecovery_WaitsForEveryBookingCaughtInTheFaultAndOneAfterTheRepair(t *testing.T) {
	// Fault at 10 s, repaired at 12 s; margin 5 s.
	start, repaired := at(10), at(12)
	cases := []struct {
		name     string
		bookings []Booking
		want     time.Time
		ok       bool
	}{
		{"a booking caught in the fault has not settled", []Booking{booking(9, 0), booking(13, 13.5)}, time.Time{}, false},
		{"no booking accepted after the repair has settled", []Booking{booking(9, 14), booking(13, 0)}, time.Time{}, false},
		{"the last caught booking settles after the first new one", []Booking{booking(9, 16), booking(11, 15), booking(13, 13.5)}, at(16), true},
		{"the first new booking settles last", []Booking{booking(9, 12.5), booking(13, 14)}, at(14), true},
		{"bookings before the margin do not count", []Booking{booking(1, 0), booking(13, 14)}, at(14), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := recovery(c.bookings, start, repaired, 5*time.Second)
			if ok != c.ok || !got.Equal(c.want) {
				t.Fatalf("recovery = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestLongestAcceptGap_IncludesTheEdgesOfTheWindow(t *testing.T) {
	bookings := []Booking{booking(1, 0), booking(2, 0), booking(6, 0), booking(7, 0)}
	if got := longestAcceptGap(bookings, at(0), at(8)); got != 4*time.Second {
		t.Fatalf("gap %s, want 4s (between 2 and 6)", got)
	}
	if got := longestAcceptGap(bookings, at(7.5), at(20)); got != 12500*time.Millisecond {
		t.Fatalf("gap %s, want 12.5s (no booking after 7.5)", got)
	}
}

func TestSettled_ConfirmedNeedsEveryTaskRejectedItsNotification(t *testing.T) {
	cases := []struct {
		b    Booking
		want bool
	}{
		{Booking{Status: "confirmed", Voucher: "done", Email: "done", Notify: "done"}, true},
		{Booking{Status: "confirmed", Voucher: "done", Email: "failed", Notify: "done"}, false},
		{Booking{Status: "rejected", Voucher: "skipped", Email: "skipped", Notify: "done"}, true},
		{Booking{Status: "rejected", Voucher: "skipped", Email: "skipped", Notify: "pending"}, false},
		{Booking{Status: ""}, false},
	}
	for _, c := range cases {
		if got := c.b.Settled(); got != c.want {
			t.Errorf("%+v settled = %v, want %v", c.b, got, c.want)
		}
	}
}

func TestSettleLatency_LeavesOutBookingsNearAFault(t *testing.T) {
	e := &engine{faults: []*FaultRecord{{Started: at(20), Repaired: at(21), Recovered: at(25)}}}
	bookings := []Booking{booking(1, 1.5), booking(2, 2.5), booking(3, 4), booking(19.5, 30), booking(40, 40.5)}
	p50, p99 := e.settleLatency(bookings)
	if p50 != 500*time.Millisecond || p99 != time.Second {
		t.Fatalf("p50 %s, p99 %s; want 500ms, 1s (the booking at 19.5 s is near the fault)", p50, p99)
	}
}

func TestTracker_OneBookingPerKeyAndPerID(t *testing.T) {
	tr := newTracker()
	a := &Booking{Key: "k1", ID: "id1"}
	if earlier := tr.accepted(a); earlier != nil {
		t.Fatalf("first booking: earlier %v", earlier)
	}
	if earlier := tr.accepted(&Booking{Key: "k1", ID: "id2"}); earlier != a {
		t.Fatalf("same key again: earlier %v, want the first booking", earlier)
	}
	tr.accepted(&Booking{Key: "k2", ID: "id1"})
	if len(tr.collisions) != 1 || tr.unsettledCount() != 1 {
		t.Fatalf("collisions %v, unsettled %d; want one collision, one booking", tr.collisions, tr.unsettledCount())
	}
}

func TestWindowDistance_ZeroInsideElseToTheNearerEdge(t *testing.T) {
	w := window{from: at(10), to: at(12)}
	for _, c := range []struct {
		t    float64
		want time.Duration
	}{{11, 0}, {10, 0}, {7, 3 * time.Second}, {12.5, 500 * time.Millisecond}} {
		if got := w.distance(at(c.t)); got != c.want {
			t.Errorf("distance of %gs = %s, want %s", c.t, got, c.want)
		}
	}
}
