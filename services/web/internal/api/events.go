package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// bookingEvents is GET /api/bookings/{id}/events: a Server-Sent Events
// stream of the booking's state. The first event is the current state, then
// each change with a higher version, as "event: status" with the JSON of
// GET /api/bookings/{id}. It ends when the client leaves or the server
// shuts down.
func (a *API) bookingEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !a.cfg.IDs.Verify(id) {
		notFound(w, "booking")
		return
	}
	// Subscribe first, then read the state: a change made in between is
	// then both in the snapshot and waiting in the subscription, and the
	// version check below sends it once.
	sub := a.cfg.Hub.Subscribe(id)
	defer sub.Close()
	snap, err := a.snapshot(ctx, id)
	if err != nil {
		a.unavailable(w, CodeBookingUnavailable, "the booking service is not available; retry later")
		return
	}

	// The server's deadlines protect ordinary requests; this one lives on.
	rc := http.NewResponseController(w)
	for _, setDeadline := range []func(time.Time) error{rc.SetWriteDeadline, rc.SetReadDeadline} {
		if err := setDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
			a.log.WarnContext(ctx, "event stream: deadline not cleared", "err", err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	a.cfg.Metrics.streams.Inc()
	defer a.cfg.Metrics.streams.Dec()

	// Reconnect after 2 s if the connection drops.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if err := writeStatus(w, rc, snap); err != nil {
		return
	}
	last := snap.Version
	heartbeat := time.NewTicker(a.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case <-sub.Ready():
			ev, ok := sub.Take()
			if !ok || ev.Version <= last {
				continue
			}
			if err := writeStatus(w, rc, viewOfEvent(ev)); err != nil {
				return
			}
			last = ev.Version
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

func writeStatus(w http.ResponseWriter, rc *http.ResponseController, v BookingView) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: status\nid: %d\ndata: %s\n\n", v.Version, data); err != nil {
		return err
	}
	return rc.Flush()
}
