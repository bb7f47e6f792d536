package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
)

// jaegerTrace is a trace as Jaeger's query API returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		Tags          []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// traces returns the traces of service that have a span tagged booking.id=id.
func (j jaeger) traces(t *testing.T, service, id string) []jaegerTrace {
	t.Helper()
	q := url.Values{"service": {service}, "tags": {`{"booking.id":"` + id + `"}`}, "limit": {"20"}, "lookback": {"1h"}}
	r := do(t, http.MethodGet, j.Query+"/api/traces?"+q.Encode(), nil, nil)
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	json.Unmarshal(r.Raw, &body)
	return body.Data
}

func TestOneBooking_IsOneTraceAcrossEveryService(t *testing.T) {
	t.Parallel()
	requireServices(t, backgroundServices)
	s := newSystem(t, backgroundServices, nil, nil)
	tracing := s.startJaeger(t)
	s.startMailpit(t)
	s.start(t, backgroundServices...)
	web := s.URL("web")

	r := do(t, http.MethodPost, web+"/api/bookings", booking("loadtest-harbour-plaza", "twin", 3), nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	waitTasksDone(t, web, id, time.Minute)
	done := time.Now()

	want := []string{"web", "booking", "voucher", "email", "notification"}
	var found jaegerTrace
	var sends, processes int
	var smtp, render bool
	// Spans arrive in batches from each service: wait for the whole trace.
	testkit.Eventually(t, 30*time.Second, "one trace with spans of every service, the SMTP send and the PDF render", func() bool {
		for _, tr := range tracing.traces(t, "web", id) {
			services := map[string]bool{}
			sends, processes, smtp, render = 0, 0, false, false
			for _, sp := range tr.Spans {
				services[tr.Processes[sp.ProcessID].ServiceName] = true
				switch {
				case strings.HasPrefix(sp.OperationName, "send "):
					sends++
				case strings.HasPrefix(sp.OperationName, "process "):
					processes++
				}
				smtp = smtp || strings.Contains(strings.ToLower(sp.OperationName), "smtp")
				render = render || strings.Contains(sp.OperationName, "render")
			}
			all := true
			for _, w := range want {
				all = all && services[w]
			}
			// BookRoom, BookingConfirmed, VoucherCreated, ConfirmationEmailSent,
			// CustomerNotified, and the status changes: sent and processed.
			if all && sends >= 5 && processes >= 5 && smtp && render {
				found = tr
				return true
			}
		}
		return false
	})
	t.Logf("trace %s: %d spans, %d sends, %d processes; found %s after the booking was done", found.TraceID, len(found.Spans), sends, processes, time.Since(done).Round(time.Millisecond))
}

func waitTasksDone(t *testing.T, web, id string, timeout time.Duration) {
	t.Helper()
	testkit.Eventually(t, timeout, "every task of "+id+" done", func() bool {
		r := do(t, http.MethodGet, web+"/api/bookings/"+id, nil, nil)
		tasks, _ := r.Body["tasks"].(map[string]any)
		return tasks != nil && tasks["voucher"] == "done" && tasks["email"] == "done" && tasks["notification"] == "done"
	})
}
