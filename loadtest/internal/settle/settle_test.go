package settle

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staybook/staybook/loadtest/internal/record"
)

// stack fakes the web tier and the voucher service: booking "done" is
// confirmed with its voucher task done, "running" confirmed with it still
// pending, "queued" never leaves pending; no voucher exists.
func stack(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /api/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		status, voucher := "confirmed", "done"
		switch r.PathValue("id") {
		case "running":
			voucher = "pending"
		case "queued":
			status, voucher = "pending", "pending"
		}
		fmt.Fprintf(w, `{"status":%q,"tasks":{"voucher":%q}}`, status, voucher)
	})
	mux.HandleFunc("HEAD /internal/vouchers/{file}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func accepted(ids ...string) []*record.Accepted {
	out := make([]*record.Accepted, len(ids))
	for i, id := range ids {
		out[i] = &record.Accepted{ID: id, Status: "pending", SentAt: time.Now()}
	}
	return out
}

// TestRun_InProgressAtTheTimeoutIsLateNotLost: a booking still pending and
// a voucher whose task is still pending when the drain times out are late;
// a voucher missing though its task is done is lost.
func TestRun_InProgressAtTheTimeoutIsLateNotLost(t *testing.T) {
	t.Parallel()
	srv := stack(t)
	res := Run(context.Background(), Config{Target: srv.URL, VoucherURL: srv.URL, Timeout: 300 * time.Millisecond},
		accepted("done", "running", "queued"))
	if !res.TimedOut || res.Interrupted || res.NotFinal != 1 || res.Final["confirmed"] != 2 {
		t.Fatalf("timed out %v, interrupted %v, not final %d, final %v", res.TimedOut, res.Interrupted, res.NotFinal, res.Final)
	}
	if c := res.Checks["voucher"]; c.Status != "failed" || c.Checked != 2 || c.Missing != 1 || c.Late != 1 {
		t.Fatalf("voucher check %+v: want the done task's voucher missing, the pending one's late", c)
	}
}

// TestRun_StoppedDrainEndsAtOnce: a drain whose context ends stops at once,
// however long its timeout, and says it was interrupted, not timed out.
func TestRun_StoppedDrainEndsAtOnce(t *testing.T) {
	t.Parallel()
	srv := stack(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	begun := time.Now()
	res := Run(ctx, Config{Target: srv.URL, Timeout: time.Hour}, accepted("done", "queued"))
	if took := time.Since(begun); took > 30*time.Second || !res.Interrupted || res.TimedOut || res.NotFinal != 1 {
		t.Fatalf("took %s, interrupted %v, timed out %v, not final %d: want an interrupted drain, at once", took, res.Interrupted, res.TimedOut, res.NotFinal)
	}
}

// TestRun_DrainTimeoutBoundsARound: with the web tier answering 503 for
// every booking (the booking service down), one round of reads over many
// bookings (each read retried) would take minutes; the drain still ends
// near its timeout, with the bookings not read counted not final.
func TestRun_DrainTimeoutBoundsARound(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ids := make([]string, 2000) // 2,000 x 1 s of retries / 16 readers: about 2 minutes unbounded
	for i := range ids {
		ids[i] = fmt.Sprintf("b%d", i)
	}
	begun := time.Now()
	res := Run(context.Background(), Config{Target: srv.URL, Timeout: time.Second}, accepted(ids...))
	if took := time.Since(begun); took > 30*time.Second || !res.TimedOut || res.NotFinal != len(ids) {
		t.Fatalf("took %s, timed out %v, not final %d of %d: want the drain to end at its timeout", took, res.TimedOut, res.NotFinal, len(ids))
	}
}

// TestRun_DrainedBeforeTheChecks: Drained is called once, after the drain
// and before the first check's read (the run stops counting CPU there).
func TestRun_DrainedBeforeTheChecks(t *testing.T) {
	t.Parallel()
	var heads, drained atomic.Int64
	headsAtDrained := int64(-1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /api/bookings/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"confirmed","tasks":{"voucher":"done"}}`)
	})
	mux.HandleFunc("HEAD /internal/vouchers/{file}", func(http.ResponseWriter, *http.Request) { heads.Add(1) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	res := Run(context.Background(), Config{Target: srv.URL, VoucherURL: srv.URL, Timeout: time.Minute, Drained: func() {
		drained.Add(1)
		headsAtDrained = heads.Load()
	}}, accepted("a", "b", "c"))
	if drained.Load() != 1 || headsAtDrained != 0 || heads.Load() != 3 || res.Checks["voucher"].Status != "ok" {
		t.Fatalf("Drained called %d times with %d voucher reads done (want once, before any); %d reads in all (want 3); voucher check %+v",
			drained.Load(), headsAtDrained, heads.Load(), res.Checks["voucher"])
	}
}
