package chaos

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Booking is one booking of the stream, as the client saw it and as the
// booking database says it is now.
type Booking struct {
	Key, ID string
	// Scarce bookings ask for a room type with few rooms (sold out often).
	Scarce bool
	// FirstTry is when the client first posted it; AcceptedAt when the web
	// tier first answered 202 (after Attempts tries).
	FirstTry, AcceptedAt time.Time
	Attempts             int
	// Status and the tasks are the booking database's, as last polled.
	Status                 string
	Voucher, Email, Notify string
	FinalAt, SettledAt     time.Time
	// VoucherAt, EmailAt and NotifyAt: when each task was first seen done.
	VoucherAt, EmailAt, NotifyAt time.Time
}

// Final: confirmed or rejected.
func (b *Booking) Final() bool { return b.Status == "confirmed" || b.Status == "rejected" }

// Settled: final, and every background task of the booking done (a rejected
// booking has only its notification to do).
func (b *Booking) Settled() bool {
	switch b.Status {
	case "confirmed":
		return b.Voucher == "done" && b.Email == "done" && b.Notify == "done"
	case "rejected":
		return b.Notify == "done"
	}
	return false
}

// tracker keeps every accepted booking and polls the booking database for
// the ones not settled yet, recording when each became final and settled.
type tracker struct {
	mu        sync.Mutex
	byID      map[string]*Booking
	byKey     map[string]*Booking
	unsettled map[string]*Booking
	order     []*Booking // by acceptance
	// collisions are IDs the web tier gave to two different keys.
	collisions []string
	// pollErrors counts failed polls (the database may be down on purpose).
	pollErrors int
}

func newTracker() *tracker {
	return &tracker{byID: map[string]*Booking{}, byKey: map[string]*Booking{}, unsettled: map[string]*Booking{}}
}

// accepted records a booking the web tier accepted; it returns the booking
// recorded earlier under the same key, if any.
func (t *tracker) accepted(b *Booking) (earlier *Booking) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byKey[b.Key]; ok {
		return e
	}
	t.byKey[b.Key] = b
	if other, dup := t.byID[b.ID]; dup {
		// Two keys, one ID: recorded for the checks, not tracked twice.
		t.collisions = append(t.collisions, fmt.Sprintf("ID %s for keys %s and %s", b.ID, other.Key, b.Key))
		return nil
	}
	t.byID[b.ID] = b
	t.unsettled[b.ID] = b
	t.order = append(t.order, b)
	return nil
}

// pollOnce reads the state of the unsettled bookings from the booking database.
func (t *tracker) pollOnce(ctx context.Context, conn *pgx.Conn, now func() time.Time) error {
	t.mu.Lock()
	ids := make([]string, 0, len(t.unsettled))
	for id := range t.unsettled {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, `SELECT id::text, status, task_voucher, task_email, task_notification
		FROM bookings WHERE id = ANY($1::uuid[])`, ids)
	if err != nil {
		return err
	}
	type state struct{ status, voucher, email, notify string }
	states := map[string]state{}
	for rows.Next() {
		var id string
		var s state
		if err := rows.Scan(&id, &s.status, &s.voucher, &s.email, &s.notify); err != nil {
			rows.Close()
			return err
		}
		states[id] = s
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	at := now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, s := range states {
		b := t.unsettled[id]
		if b == nil {
			continue
		}
		b.Status, b.Voucher, b.Email, b.Notify = s.status, s.voucher, s.email, s.notify
		if b.Final() && b.FinalAt.IsZero() {
			b.FinalAt = at
		}
		for _, task := range []struct {
			state string
			at    *time.Time
		}{{b.Voucher, &b.VoucherAt}, {b.Email, &b.EmailAt}, {b.Notify, &b.NotifyAt}} {
			if task.state == "done" && task.at.IsZero() {
				*task.at = at
			}
		}
		if b.Settled() {
			b.SettledAt = at
			delete(t.unsettled, id)
		}
	}
	return nil
}

// poll polls every interval until ctx ends, reconnecting as needed.
func (t *tracker) poll(ctx context.Context, dbURL string, interval time.Duration) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if conn == nil || conn.IsClosed() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := pgx.Connect(cctx, dbURL)
			cancel()
			if err != nil {
				t.failedPoll()
				continue
			}
			conn = c
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := t.pollOnce(qctx, conn, time.Now)
		cancel()
		if err != nil {
			t.failedPoll()
			conn.Close(context.Background())
			conn = nil
		}
	}
}

func (t *tracker) failedPoll() {
	t.mu.Lock()
	t.pollErrors++
	t.mu.Unlock()
}

// snapshot returns copies of every tracked booking, in acceptance order.
func (t *tracker) snapshot() []Booking {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Booking, len(t.order))
	for i, b := range t.order {
		out[i] = *b
	}
	return out
}

// unsettledCount is how many accepted bookings are not settled yet.
func (t *tracker) unsettledCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.unsettled)
}

// recovery says when the stream recovered from a fault that started at
// start and was repaired at repaired: the moment by which every booking
// accepted between start-margin and repaired has settled, and a booking
// accepted after repaired has settled too (so the system takes and finishes
// new work again). ok is false while that has not happened yet.
func recovery(bookings []Booking, start, repaired time.Time, margin time.Duration) (at time.Time, ok bool) {
	from := start.Add(-margin)
	var lastBefore time.Time
	var firstAfter time.Time
	for _, b := range bookings {
		switch {
		case b.AcceptedAt.Before(from):
			continue
		case !b.AcceptedAt.After(repaired):
			if b.SettledAt.IsZero() {
				return time.Time{}, false
			}
			if b.SettledAt.After(lastBefore) {
				lastBefore = b.SettledAt
			}
		default:
			if !b.SettledAt.IsZero() && (firstAfter.IsZero() || b.SettledAt.Before(firstAfter)) {
				firstAfter = b.SettledAt
			}
		}
	}
	if firstAfter.IsZero() {
		return time.Time{}, false
	}
	if lastBefore.After(firstAfter) {
		return lastBefore, true
	}
	return firstAfter, true
}

// longestAcceptGap is the longest time within [from, to] during which the
// web tier accepted no booking (a fault that stops it from taking bookings
// shows here; one that only delays their processing does not).
func longestAcceptGap(bookings []Booking, from, to time.Time) time.Duration {
	var times []time.Time
	for _, b := range bookings {
		if !b.AcceptedAt.Before(from) && !b.AcceptedAt.After(to) {
			times = append(times, b.AcceptedAt)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	prev, gap := from, time.Duration(0)
	for _, at := range append(times, to) {
		if d := at.Sub(prev); d > gap {
			gap = d
		}
		prev = at
	}
	return gap
}
