package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/messaging"
	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/web/internal/adapters/jaegerclient"
	"github.com/staybook/staybook/services/web/internal/domain"
)

const adminToken = "test-admin-token-0123456789-abcdefghij"

var bearer = map[string]string{"Authorization": "Bearer " + adminToken}

// fakeDeadLetters records what reaches the deadletters service and answers
// as it would.
type fakeDeadLetters struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path?query auth"
}

func newFakeDeadLetters(t *testing.T) *fakeDeadLetters {
	f := &fakeDeadLetters{}
	record := func(r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.seen = append(f.seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/admin/dead-letters", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		httpx.WriteJSON(w, 200, map[string]any{"dead_letters": []map[string]any{{"id": "letter-1", "status": "dead", "handler": "create_voucher"}}})
	})
	mux.HandleFunc("GET /api/admin/dead-letters/{id}", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.PathValue("id") != "letter-1" {
			httpx.WriteError(w, 404, "not_found", "no dead letter "+r.PathValue("id"))
			return
		}
		httpx.WriteJSON(w, 200, map[string]any{"id": "letter-1", "history": []any{}})
	})
	mux.HandleFunc("POST /api/admin/dead-letters/{id}/replay", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		httpx.WriteJSON(w, 200, map[string]any{"id": r.PathValue("id"), "status": "replayed"})
	})
	mux.HandleFunc("DELETE /api/admin/dead-letters/{id}", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.WriteHeader(http.StatusNoContent)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDeadLetters) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func adminConfig(t *testing.T, amqpURL, bookingURL, deadLettersURL string) Config {
	cfg := testConfig(amqpURL, bookingURL, "http://127.0.0.1:1")
	cfg.AdminToken = adminToken
	cfg.DeadlettersURL = deadLettersURL
	cfg.AdminMaxFailures = 1000 // these tests send many wrong tokens on purpose
	// The fault switches are on the internal listener.
	cfg.InternalAddr = "localhost:0" // an address of its own: HTTP_ADDR is 127.0.0.1:0
	return cfg
}

func TestAdminAPI_WrongTokensAreLimitedPerClientAddress(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	dl := newFakeDeadLetters(t)
	cfg := adminConfig(t, testkit.Vhost(t), fb.URL(), dl.srv.URL)
	cfg.AdminMaxFailures = 3
	cfg.AdminFailureWindow = time.Hour         // no refill during the test
	cfg.TrustedProxies = []string{"127.0.0.1"} // the test plays the load balancer
	w := startWeb(t, cfg)
	const path = "/api/admin/dead-letters"
	as := func(client string, h map[string]string) response {
		header := map[string]string{"X-Forwarded-For": client}
		for k, v := range h {
			header[k] = v
		}
		return do(t, http.MethodGet, w.base+path, "", header)
	}
	wrong := map[string]string{"Authorization": "Bearer not-the-token"}
	for i := range 3 {
		if r := as("198.51.100.1", wrong); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, r.status)
		}
	}
	// Past the allowance, even the right token is refused: guessing further
	// would otherwise tell a right guess by its answer.
	for name, h := range map[string]map[string]string{"wrong token": wrong, "right token": bearer} {
		r := as("198.51.100.1", h)
		if r.status != http.StatusTooManyRequests || r.errorDetail(t).Code != "too_many_failures" || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s after 3 failures: %d %v %s", name, r.status, r.header, r.body)
		}
	}
	// A forged X-Forwarded-For on the left does not make a new client.
	if r := as("203.0.113.9, 198.51.100.1", bearer); r.status != http.StatusTooManyRequests {
		t.Fatalf("forged hop escaped the limit: %d", r.status)
	}
	// Another address is not affected.
	if r := as("198.51.100.2", bearer); r.status != http.StatusOK {
		t.Fatalf("another client: %d %s", r.status, r.body)
	}
}

func TestAdminAPI_RefusedWithoutTheTokenAndPassedOnWithIt(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	dl := newFakeDeadLetters(t)
	w := startWeb(t, adminConfig(t, testkit.Vhost(t), fb.URL(), dl.srv.URL))

	paths := []struct{ method, path string }{
		{http.MethodGet, w.base + "/api/admin/dead-letters?status=dead&handler=create_voucher"},
		{http.MethodGet, w.base + "/api/admin/dead-letters/letter-1"},
		{http.MethodPost, w.base + "/api/admin/dead-letters/letter-1/replay"},
		{http.MethodDelete, w.base + "/api/admin/dead-letters/letter-1"},
		{http.MethodPut, w.internal + "/api/admin/faults/voucher"},
		{http.MethodDelete, w.internal + "/api/admin/faults/voucher"},
		{http.MethodGet, w.base + "/api/admin/bookings/some-booking/trace"},
	}
	for _, p := range paths {
		for name, h := range map[string]map[string]string{
			"no token":     nil,
			"wrong token":  {"Authorization": "Bearer not-the-token"},
			"not a bearer": {"Authorization": "Basic " + adminToken},
		} {
			resp := doInternal(t, p.method, p.path, "", h)
			if !strings.HasPrefix(p.path, w.internal) {
				checkAgainstOpenAPI(t, httptest.NewRequest(p.method, p.path, nil), resp.status, resp.header, resp.body)
			}
			if resp.status != http.StatusUnauthorized || !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") ||
				resp.errorDetail(t).Code != "unauthorized" || resp.header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s with %s: %d %v %s", p.method, p.path, name, resp.status, resp.header, resp.body)
			}
		}
	}
	if got := dl.requests(); len(got) != 0 {
		t.Fatalf("refused requests reached the deadletters service: %v", got)
	}

	list := do(t, http.MethodGet, paths[0].path, "", bearer)
	if list.status != 200 || !strings.Contains(string(list.body), `"letter-1"`) {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	if r := do(t, http.MethodGet, w.base+"/api/admin/dead-letters/letter-404", "", bearer); r.status != 404 || r.errorDetail(t).Code != "not_found" {
		t.Fatalf("unknown letter: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodPost, paths[2].path, "", bearer); r.status != 200 || !strings.Contains(string(r.body), "replayed") {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodDelete, paths[3].path, "", bearer); r.status != http.StatusNoContent {
		t.Fatalf("purge: %d %s", r.status, r.body)
	}
	want := []string{
		"GET /api/admin/dead-letters?status=dead&handler=create_voucher Bearer " + adminToken,
		"GET /api/admin/dead-letters/letter-404 Bearer " + adminToken,
		"POST /api/admin/dead-letters/letter-1/replay Bearer " + adminToken,
		"DELETE /api/admin/dead-letters/letter-1 Bearer " + adminToken,
	}
	if got := dl.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the deadletters service got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	dl.srv.Close()
	if r := do(t, http.MethodGet, paths[0].path, "", bearer); r.status != http.StatusServiceUnavailable || r.errorDetail(t).Code != "deadletters_unavailable" {
		t.Fatalf("deadletters down: %d %s", r.status, r.body)
	}
}

func TestAdminAPI_WithoutAConfiguredTokenEveryRequestIsRefused(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	dl := newFakeDeadLetters(t)
	cfg := adminConfig(t, testkit.Vhost(t), fb.URL(), dl.srv.URL)
	cfg.AdminToken = ""
	w := startWeb(t, cfg)
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer "}, bearer} {
		resp := do(t, http.MethodGet, w.base+"/api/admin/dead-letters", "", h)
		if resp.status != http.StatusServiceUnavailable || resp.errorDetail(t).Code != "admin_disabled" ||
			!strings.Contains(resp.errorDetail(t).Message, "admin API disabled") {
			t.Errorf("%v: %d %s", h, resp.status, resp.body)
		}
	}
	if len(dl.requests()) != 0 {
		t.Fatal("a request reached the deadletters service")
	}
}

// controlQueue binds a queue of the test's own to the control fanout and
// returns a function that takes the next FaultChanged from it.
func controlQueue(t *testing.T, amqpURL string) func() contracts.FaultChanged {
	t.Helper()
	ch := testkit.Channel(t, amqpURL)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	testkit.Must(t, err)
	testkit.Must(t, ch.QueueBind(q.Name, "", messaging.ControlExchange, false, nil))
	return func() contracts.FaultChanged {
		t.Helper()
		var got contracts.FaultChanged
		testkit.Eventually(t, 5*time.Second, "a FaultChanged on the control fanout", func() bool {
			d, ok, err := ch.Get(q.Name, true)
			if err != nil || !ok {
				return false
			}
			msg, err := messaging.Marshaler{}.Unmarshal(d)
			testkit.Must(t, err)
			got, err = contracts.Decode[contracts.FaultChanged](msg)
			testkit.Must(t, err)
			return true
		})
		return got
	}
}

func TestAdminAPI_FaultsAreBroadcastOnTheControlFanoutToEveryReplica(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	dl := newFakeDeadLetters(t)
	w := startWeb(t, adminConfig(t, amqpURL, fb.URL(), dl.srv.URL))
	next := controlQueue(t, amqpURL)

	// Not on the public listener, even with the token: the next change on
	// the fanout is the one sent to the internal listener below.
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		if resp := doInternal(t, method, w.base+"/api/admin/faults/voucher", `{"fail_rate": 1, "mode": "permanent"}`, bearer); resp.status != http.StatusMethodNotAllowed {
			t.Fatalf("%s on the public listener: %d %s", method, resp.status, resp.body)
		}
	}
	resp := doInternal(t, http.MethodPut, w.internal+"/api/admin/faults/voucher", `{"fail_rate": 1, "mode": "permanent", "handler": "create_voucher"}`, bearer)
	if resp.status != http.StatusAccepted {
		t.Fatalf("PUT: %d %s", resp.status, resp.body)
	}
	want := contracts.FaultChanged{Service: "voucher", Handler: "create_voucher", FailRate: 1, Mode: contracts.FaultPermanent}
	if got := next(); got != want {
		t.Fatalf("control fanout got %+v, want %+v", got, want)
	}

	// The web tier is one of the services: its own replica applies a fault
	// addressed to it (through its own control queue), and clears it.
	resp = doInternal(t, http.MethodPut, w.internal+"/api/admin/faults/web", `{"fail_rate": 0.5, "mode": "transient"}`, bearer)
	if resp.status != http.StatusAccepted {
		t.Fatalf("PUT web: %d %s", resp.status, resp.body)
	}
	testkit.Eventually(t, 5*time.Second, "the web replica applies its fault", func() bool {
		f := w.svc.Faults.Active()
		return len(f) == 1 && f[0].FailRate == 0.5 && f[0].Mode == contracts.FaultTransient && f[0].Handler == ""
	})
	next()
	if resp := doInternal(t, http.MethodDelete, w.internal+"/api/admin/faults/web", "", bearer); resp.status != http.StatusAccepted {
		t.Fatalf("DELETE web: %d %s", resp.status, resp.body)
	}
	if got := next(); got != (contracts.FaultChanged{Service: "web", Clear: true}) {
		t.Fatalf("clear: %+v", got)
	}
	testkit.Eventually(t, 5*time.Second, "the web replica clears its faults", func() bool { return len(w.svc.Faults.Active()) == 0 })

	bad := []struct {
		path, body string
		status     int
		field      string
	}{
		{"/api/admin/faults/payments", `{"fail_rate": 1, "mode": "permanent"}`, 404, "service"},
		{"/api/admin/faults/voucher", `{"fail_rate": 1.5, "mode": "permanent"}`, 422, "fail_rate"},
		{"/api/admin/faults/voucher", `{"fail_rate": -0.1, "mode": "transient"}`, 422, "fail_rate"},
		{"/api/admin/faults/voucher", `{"fail_rate": 1, "mode": "sometimes"}`, 422, "mode"},
		{"/api/admin/faults/voucher", `{"fail_rate": 1, "mode": "panic", "handler": "` + strings.Repeat("h", 101) + `"}`, 422, "handler"},
		{"/api/admin/faults/voucher", `{"fail_rate": "all"}`, 400, "fail_rate"},
	}
	for _, b := range bad {
		resp := doInternal(t, http.MethodPut, w.internal+b.path, b.body, bearer)
		if resp.status != b.status || resp.errorDetail(t).Field != b.field {
			t.Errorf("PUT %s %s: %d %s, want %d naming %s", b.path, b.body, resp.status, resp.body, b.status, b.field)
		}
	}
	if resp := doInternal(t, http.MethodDelete, w.internal+"/api/admin/faults/payments", "", bearer); resp.status != 404 {
		t.Errorf("DELETE unknown service: %d", resp.status)
	}
}

func TestAdminAPI_NoFaultControlWithoutAnInternalListener(t *testing.T) {
	t.Parallel()
	fb := newFakeBooking(t)
	dl := newFakeDeadLetters(t)
	cfg := adminConfig(t, testkit.Vhost(t), fb.URL(), dl.srv.URL)
	cfg.InternalAddr = ""
	w := startWeb(t, cfg)
	if w.internal != "" {
		t.Fatalf("an internal listener at %s without INTERNAL_ADDR", w.internal)
	}
	if resp := doInternal(t, http.MethodPut, w.base+"/api/admin/faults/voucher", `{"fail_rate": 1, "mode": "permanent"}`, bearer); resp.status != http.StatusMethodNotAllowed {
		t.Fatalf("PUT on the public listener: %d %s", resp.status, resp.body)
	}
}

// fakeJaeger answers Jaeger's trace search with one trace of two services.
func newFakeJaeger(t *testing.T, bookingID string) (*httptest.Server, *sync.Map) {
	asked := &sync.Map{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/traces" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		asked.Store(q.Get("service"), q.Get("tags"))
		var tags map[string]string
		json.Unmarshal([]byte(q.Get("tags")), &tags)
		if tags["booking.id"] != bookingID || (q.Get("service") != "web" && q.Get("service") != "booking") {
			io.WriteString(w, `{"data": [], "total": 0}`)
			return
		}
		fmt.Fprintf(w, `{"data": [{"traceID": "t1", "processes": {"p1": {"serviceName": "web"}, "p2": {"serviceName": "booking"}},
		  "spans": [
		    {"traceID": "t1", "spanID": "a", "operationName": "POST /bookings", "references": [], "startTime": 1000000, "duration": 40000, "processID": "p1",
		     "tags": [{"key": "booking.id", "type": "string", "value": %q}]},
		    {"traceID": "t1", "spanID": "b", "operationName": "process commands.BookRoom", "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "a"}],
		     "startTime": 1020000, "duration": 80000, "processID": "p2", "tags": [{"key": "error", "type": "bool", "value": true}]}
		  ]}]}`, bookingID)
	}))
	t.Cleanup(srv.Close)
	return srv, asked
}

func TestAdminAPI_BookingTraceIsAWaterfallFromJaeger(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	dl := newFakeDeadLetters(t)
	cfg := adminConfig(t, amqpURL, fb.URL(), dl.srv.URL)
	w0 := startWeb(t, cfg) // only to issue a booking ID the way the web tier does
	id := strings.TrimPrefix(postForm(t, w0.base, validForm("form-trace"), nil).header.Get("Location"), "/bookings/")
	jg, asked := newFakeJaeger(t, id)
	cfg.JaegerQueryURL = jg.URL
	cfg.JaegerUIURL = "http://jaeger.example:16686"
	w := startWeb(t, cfg)

	resp := do(t, http.MethodGet, w.base+"/api/admin/bookings/"+id+"/trace", "", bearer)
	if resp.status != 200 {
		t.Fatalf("trace: %d %s", resp.status, resp.body)
	}
	var wf domain.Waterfall
	resp.json(t, &wf)
	if len(wf.Spans) != 2 || wf.DurationMS != 100 || len(wf.Traces) != 1 || wf.Traces[0].URL != "http://jaeger.example:16686/trace/t1" ||
		strings.Join(wf.Services, ",") != "web,booking" {
		t.Fatalf("waterfall %+v", wf)
	}
	a, b := wf.Spans[0], wf.Spans[1]
	if a.Service != "web" || a.OffsetPct != 0 || a.WidthPct != 40 || a.Depth != 0 ||
		b.Service != "booking" || b.OffsetPct != 20 || b.WidthPct != 80 || b.Depth != 1 || !b.Error || b.ParentID != "a" {
		t.Fatalf("spans %+v", wf.Spans)
	}
	for _, svc := range jaegerclient.DefaultServices {
		if tags, ok := asked.Load(svc); !ok || tags != `{"booking.id":"`+id+`"}` {
			t.Errorf("service %s searched with %v", svc, tags)
		}
	}
	if r := do(t, http.MethodGet, w.base+"/api/admin/bookings/not-an-id/trace", "", bearer); r.status != 404 {
		t.Errorf("unknown booking: %d", r.status)
	}
	jg.Close()
	if r := do(t, http.MethodGet, w.base+"/api/admin/bookings/"+id+"/trace", "", bearer); r.status != 503 || r.errorDetail(t).Code != "traces_unavailable" {
		t.Errorf("Jaeger down: %d %s", r.status, r.body)
	}
}
