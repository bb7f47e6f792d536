package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/staybook/staybook/services/web/internal/app"
)

// bookingEvents is GET /api/bookings/{id}/events: a Server-Sent Events
// stream of the booking's state. The first event is the current state, then
// each change with a higher version, as "event: status" with the JSON of
// GET /api/bookings/{id}. It ends when the client leaves, the server shuts
// down or the stream has lived StreamLifetime (the browser then reconnects
// after the "retry:" delay, possibly to another replica). A client with too
// many streams open gets 429, a full replica 503.
func (a *API) bookingEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if !a.cfg.Bookings.Verify(id) {
		notFound(w, "booking")
		return
	}
	client, _ := a.cfg.ClientAddress(r) // the zero address if unknown: one shared count
	release, err := a.cfg.Streams.Open(client)
	switch {
	case errors.Is(err, app.ErrClientStreams):
		w.Header().Set("Retry-After", a.retryAfter)
		writeError(w, http.StatusTooManyRequests, app.CodeTooManyStreams, "too many event streams open from this address; close one")
		return
	case err != nil:
		a.unavailable(w, app.CodeTooManyStreams, "this server has no room for another event stream; retry later")
		return
	}
	defer release()
	// Subscribe first, then read the state: a change made in between is
	// then both in the snapshot and waiting in the subscription, and the
	// version check below sends it once.
	sub := a.cfg.Hub.Subscribe(id)
	defer sub.Close()
	snap, err := a.cfg.Bookings.Status(ctx, id)
	if err != nil {
		a.unavailable(w, app.CodeBookingUnavailable, "the booking service is not available; retry later")
		return
	}

	rc := a.startStream(w, r)
	a.cfg.Bookings.Metrics().StreamOpened()
	defer a.cfg.Bookings.Metrics().StreamClosed()

	// Reconnect after 2 s if the connection drops.
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", reconnectDelay.Milliseconds()); err != nil {
		return
	}
	if err := writeStatus(w, rc, snap); err != nil {
		return
	}
	a.stream(w, r, rc, sub, snap.Version)
}

// startStream clears the server's deadlines, which protect ordinary
// requests (this one lives on), and sends the stream's headers.
func (a *API) startStream(w http.ResponseWriter, r *http.Request) *http.ResponseController {
	rc := http.NewResponseController(w)
	for _, setDeadline := range []func(time.Time) error{rc.SetWriteDeadline, rc.SetReadDeadline} {
		if err := setDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
			a.log.WarnContext(r.Context(), "event stream: deadline not cleared", "err", err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	return rc
}

// stream sends every change of a version above last, and heartbeats, until
// the client leaves, the hub closes or the stream's lifetime ends.
func (a *API) stream(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, sub *app.Subscription, last int64) {
	heartbeat := time.NewTicker(a.cfg.Heartbeat)
	defer heartbeat.Stop()
	lifetime := time.NewTimer(jitter(a.cfg.StreamLifetime))
	defer lifetime.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.Done():
			return
		case <-lifetime.C:
			// The browser's EventSource reconnects by itself after the
			// retry delay; the new stream starts from the current state.
			fmt.Fprintf(w, "retry: %d\n: stream lifetime reached, reconnect\n\n", reconnectDelay.Milliseconds())
			rc.Flush()
			return
		case <-sub.Ready():
			ev, ok := sub.Take()
			if !ok || ev.Version <= last {
				continue
			}
			if err := writeStatus(w, rc, app.ViewOfEvent(ev)); err != nil {
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

// reconnectDelay is the "retry:" hint: how long a browser waits before
// reconnecting a stream that ended.
const reconnectDelay = 2 * time.Second

// jitter returns d shortened by up to a tenth, at random, so that streams
// opened together (after a deploy) do not all end and reconnect together.
func jitter(d time.Duration) time.Duration {
	return d - rand.N(d/10+1)
}

func writeStatus(w http.ResponseWriter, rc *http.ResponseController, v app.BookingView) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: status\nid: %d\ndata: %s\n\n", v.Version, data); err != nil {
		return err
	}
	return rc.Flush()
}
