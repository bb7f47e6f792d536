package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
)

// logLines counts the lines of one process's output that contain text.
func (s *system) logLines(process, text string) int {
	prefix := process + " "
	n := 0
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, text) {
			n++
		}
	}
	return n
}

// A replay republishes the dead letter's original metadata, traceparent
// included, undecorated (services/deadletters' Republisher): the replayed
// delivery's consumer span continues the booking's trace rather than
// starting one of its own or hanging under the admin's replay request.
func TestReplay_ContinuesTheBookingsTrace(t *testing.T) {
	t.Parallel()
	requireServices(t, allServices)
	serviceEnv, faults := webInternal(t)
	s := newSystem(t, allServices, nil, serviceEnv)
	tracing := s.startJaeger(t)
	s.startMailpit(t)
	s.start(t, allServices...)
	web, admin := s.URL("web"), s.URL("deadletters")
	auth := map[string]string{"Authorization": "Bearer test-admin-token"}

	fault := map[string]any{"fail_rate": 1, "mode": "permanent", "handler": "create_voucher"}
	if r := do(t, http.MethodPut, faults+"/api/admin/faults/voucher", fault, auth); r.Status/100 != 2 {
		t.Fatalf("PUT fault: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, 30*time.Second, "voucher applied the fault", func() bool {
		return s.logLines("voucher", "fault injected") > 0
	})

	r := do(t, http.MethodPost, web+"/api/bookings", booking("loadtest-harbour-plaza", "twin", 7), nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)

	var letterID string
	testkit.Eventually(t, time.Minute, "the voucher's dead letter", func() bool {
		list := do(t, http.MethodGet, admin+"/api/admin/dead-letters?status=dead&handler=create_voucher", nil, auth)
		letters, _ := list.Body["dead_letters"].([]any)
		for _, l := range letters {
			if m := l.(map[string]any); m["correlation_id"] == id {
				letterID, _ = m["id"].(string)
			}
		}
		return letterID != ""
	})
	testkit.Eventually(t, 30*time.Second, "voucher task failed", func() bool {
		tasks, _ := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil).Body["tasks"].(map[string]any)
		return tasks != nil && tasks["voucher"] == "failed"
	})

	if r := do(t, http.MethodDelete, faults+"/api/admin/faults/voucher", nil, auth); r.Status/100 != 2 {
		t.Fatalf("DELETE fault: %d %s", r.Status, r.Raw)
	}
	testkit.Eventually(t, 30*time.Second, "voucher cleared the fault", func() bool {
		return s.logLines("voucher", "faults cleared") > 0
	})
	if r := do(t, http.MethodPost, admin+"/api/admin/dead-letters/"+letterID+"/replay", nil, auth); r.Status != http.StatusOK {
		t.Fatalf("replay %s: %d %s", letterID, r.Status, r.Raw)
	}
	waitTasksDone(t, web, id, time.Minute)

	// Spans arrive in batches from each service: wait until the voucher's
	// two consumer spans (the failed delivery and the replay) are in Jaeger.
	const consumed = "process events.BookingConfirmed"
	var voucherTraces map[string]int // trace ID -> voucher consumer spans
	var webTraces map[string]bool
	testkit.Eventually(t, 30*time.Second, "both voucher deliveries of the booking in Jaeger", func() bool {
		voucherTraces, webTraces = map[string]int{}, map[string]bool{}
		total := 0
		for _, tr := range tracing.traces(t, "voucher", id) {
			for _, sp := range tr.Spans {
				if sp.OperationName == consumed && tr.Processes[sp.ProcessID].ServiceName == "voucher" {
					voucherTraces[tr.TraceID]++
					total++
				}
			}
		}
		for _, tr := range tracing.traces(t, "web", id) {
			webTraces[tr.TraceID] = true
		}
		return total >= 2 && len(webTraces) > 0
	})
	if len(voucherTraces) != 1 {
		t.Fatalf("the voucher's deliveries are in %d traces, want 1: %v", len(voucherTraces), voucherTraces)
	}
	var traceID string
	for tid, n := range voucherTraces {
		traceID = tid
		if n != 2 {
			t.Fatalf("trace %s has %d %q spans of voucher, want 2 (failed, replayed)", tid, n, consumed)
		}
	}
	if !webTraces[traceID] || len(webTraces) != 1 {
		t.Fatalf("the booking's web request is in traces %v, the voucher's deliveries in %s: want one trace", webTraces, traceID)
	}
	t.Logf("booking %s: web request, failed delivery and replay all in trace %s", id, traceID)
}
