package sample

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"
)

// fakePrometheus answers instant queries from a table of query -> job ->
// value (the sums a real server would compute over the replicas), and
// counts the queries it did not expect.
func fakePrometheus(t *testing.T, answers map[string]map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query().Get("query")
		type series struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		result := []series{}
		for job, v := range answers[q] {
			result = append(result, series{Metric: map[string]string{"job": job}, Value: [2]any{1.7e9, v}})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPrometheus_FiguresAreSummedPerServiceAndMissingOnesAbsent(t *testing.T) {
	t.Parallel()
	srv := fakePrometheus(t, map[string]map[string]string{
		// Three web replicas of 40 MB and two booking replicas of 50 MB, summed.
		`sum by (job) (process_resident_memory_bytes)`:                                                             {"web": "1.2e8", "booking": "1e8"},
		`sum by (job) (staybook_handler_execution_time_seconds_count{handler_name=~"book_room.*"})`:                {"booking": "300"},
		`sum by (job) (staybook_http_request_duration_seconds_sum{route="GET /internal/idempotency-keys/{hash}"})`: {"booking": "1.5"},
		`sum by (job) (staybook_voucher_requests_total{outcome="created"})`:                                        {"voucher": "290"},
	})
	got, err := Prometheus{URL: srv.URL + "/"}.Figures(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]float64{
		"web":     {RSSBytes: 1.2e8},
		"booking": {RSSBytes: 1e8, BookRoomCount: 300, KeyLookupSum: 1.5},
		"voucher": {VouchersCreated: 290},
	}
	for svc, figures := range want {
		for k, v := range figures {
			if g, ok := got[svc][k]; !ok || g != v {
				t.Errorf("%s %s = %v (present %v), want %v", svc, k, g, ok, v)
			}
		}
	}
	if _, ok := got["web"][CPUSeconds]; ok {
		t.Error("a figure Prometheus has no series for must be absent, not zero")
	}
	if len(got) != 3 {
		t.Errorf("services %v, want web, booking and voucher", got)
	}
}

func TestPrometheus_UnreachableIsAnErrorNotZeros(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	got, err := Prometheus{URL: srv.URL}.Figures(context.Background())
	if err == nil || got != nil {
		t.Fatalf("figures %v, error %v: want no figures and an error", got, err)
	}
}

func TestSampler_WithPrometheusTakesServiceFiguresFromIt(t *testing.T) {
	t.Parallel()
	srv := fakePrometheus(t, map[string]map[string]string{
		`sum by (job) (process_cpu_seconds_total)`: {"web": "4.5", "postgres": "9"},
	})
	// The web tier's own address answers nothing: only Prometheus can.
	s := Start(context.Background(), Config{
		Services:   map[string]string{"web": "http://127.0.0.1:1"},
		Prometheus: Prometheus{URL: srv.URL}, Interval: 10 * time.Millisecond,
	}, time.Now())
	defer s.Stop()
	testkit.Eventually(t, 5*time.Second, "web CPU seconds 4.5 from Prometheus", func() bool {
		return s.Latest().Services["web"][CPUSeconds] == 4.5
	})
	if _, ok := s.Latest().Services["postgres"]; ok {
		t.Fatal("an exporter's job is not a Staybook service")
	}
	if q := s.Latest().Queues; q != nil {
		t.Fatalf("queue depths %v without a broker: want none (not measured)", q)
	}
}
