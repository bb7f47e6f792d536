package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name   string `json:"name"`
	Guests int    `json:"guests"`
}

func TestDecodeJSON_MapsBadBodiesToClearErrors(t *testing.T) {
	cases := []struct {
		name, body, contentType string
		status                  int
		code, field             string
	}{
		{"valid", `{"name":"a","guests":2,"extra":true}`, "application/json", 0, "", ""},
		{"malformed", `{"name":`, "application/json", 400, "malformed_json", ""},
		{"wrong type", `{"guests":"two"}`, "application/json", 400, "malformed_json", "guests"},
		{"two objects", `{} {}`, "application/json", 400, "malformed_json", ""},
		{"empty", ``, "application/json", 400, "malformed_json", ""},
		{"too large", `{"name":"` + strings.Repeat("x", 2000) + `"}`, "application/json", 413, "body_too_large", ""},
		{"not json", `name=a`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.contentType)
			var dst sample
			err := DecodeJSON(httptest.NewRecorder(), r, &dst, 1024)
			if tc.status == 0 {
				if err != nil || dst.Name != "a" || dst.Guests != 2 {
					t.Fatalf("err %v, dst %+v", err, dst)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Status != tc.status || re.Code != tc.code || re.Field != tc.field {
				t.Fatalf("got %#v, want status %d code %s field %q", err, tc.status, tc.code, tc.field)
			}
		})
	}
}

func TestReadyz_ReportsEachCheck(t *testing.T) {
	mux := http.NewServeMux()
	broker := errors.New("broker down")
	HandleHealth(mux,
		Check{Name: "database", Check: func(context.Context) error { return nil }},
		Check{Name: "broker", Check: func(context.Context) error { return broker }},
	)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 503 || body.Checks["broker"] != "broker down" || body.Checks["database"] != "ok" {
		t.Fatalf("%d %+v", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("healthz %d", rec.Code)
	}
}

func TestServer_FinishesInFlightRequestOnShutdown(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.WriteHeader(http.StatusAccepted)
	})
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", Handler: h, ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + srv.Addr())
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-started
	cancel()
	close(release)
	if code := <-got; code != http.StatusAccepted {
		t.Fatalf("in-flight request got %d", code)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestHealthcheck_ExitCodeFollowsReadiness(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	if code := Healthcheck(":"+port, ""); code != 0 {
		t.Fatalf("ready: exit %d", code)
	}
	ready = false
	if code := Healthcheck("", addr); code != 1 {
		t.Fatalf("not ready: exit %d", code)
	}
	if code := Healthcheck("no-port", ""); code != 2 {
		t.Fatalf("bad address: exit %d", code)
	}
}

func TestMux_RemembersItsPatternsAndRoutesAsServeMuxDoes(t *testing.T) {
	m := NewMux()
	m.HandleFunc("GET /b/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("b " + r.PathValue("id"))) })
	m.Handle("POST /a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	HandleHealth(m)
	if got, want := m.Patterns(), []string{"GET /b/{id}", "GET /healthz", "GET /readyz", "POST /a"}; !slices.Equal(got, want) {
		t.Fatalf("patterns %v, want %v", got, want)
	}
	w := httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/b/7", nil))
	if w.Body.String() != "b 7" {
		t.Fatalf("GET /b/7 answered %q", w.Body.String())
	}
	w = httptest.NewRecorder()
	m.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/a", nil))
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST /a answered %d", w.Code)
	}
}
