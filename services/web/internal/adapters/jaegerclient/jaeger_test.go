package jaegerclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A booking's trace as two services' searches find it: both answers hold
// the whole trace (with their own process IDs), and a replay started a
// second trace.
const (
	webAnswer = `{"data": [{"traceID": "t1", "processes": {"p1": {"serviceName": "web"}, "p2": {"serviceName": "booking"}, "p3": {"serviceName": "voucher"}},
	  "spans": [
	    {"traceID": "t1", "spanID": "c", "operationName": "process events.BookingConfirmed", "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "b"}], "startTime": 1500, "duration": 500, "processID": "p3", "tags": []},
	    {"traceID": "t1", "spanID": "a", "operationName": "POST /api/bookings", "references": [], "startTime": 1000, "duration": 100, "processID": "p1", "tags": [{"key": "booking.id", "value": "B"}]},
	    {"traceID": "t1", "spanID": "b", "operationName": "process commands.BookRoom", "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "a"}], "startTime": 1050, "duration": 400, "processID": "p2", "tags": [{"key": "otel.status_code", "value": "ERROR"}]}
	  ]},
	  {"traceID": "stray", "processes": {"p1": {"serviceName": "web"}}, "spans": [
	    {"traceID": "stray", "spanID": "x", "operationName": "GET /", "references": [], "startTime": 0, "duration": 10, "processID": "p1", "tags": [{"key": "booking.id", "value": "other"}]}
	  ]}]}`
	voucherAnswer = `{"data": [{"traceID": "t1", "processes": {"p7": {"serviceName": "voucher"}, "p8": {"serviceName": "booking"}, "p9": {"serviceName": "web"}},
	  "spans": [
	    {"traceID": "t1", "spanID": "a", "operationName": "POST /api/bookings", "references": [], "startTime": 1000, "duration": 100, "processID": "p9", "tags": [{"key": "booking.id", "value": "B"}]},
	    {"traceID": "t1", "spanID": "c", "operationName": "process events.BookingConfirmed", "references": [{"refType": "CHILD_OF", "traceID": "t1", "spanID": "b"}], "startTime": 1500, "duration": 500, "processID": "p7", "tags": [{"key": "booking.id", "value": "B"}]}
	  ]},
	  {"traceID": "t2", "processes": {"p1": {"serviceName": "voucher"}}, "spans": [
	    {"traceID": "t2", "spanID": "r", "operationName": "process events.BookingConfirmed", "references": [], "startTime": 2500, "duration": 500, "processID": "p1", "tags": [{"key": "booking.id", "value": "B"}]}
	  ]}]}`
)

func TestBookingTrace_MergesEveryServicesTracesIntoOneWaterfall(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("service") {
		case "web":
			io.WriteString(w, webAnswer)
		case "voucher":
			io.WriteString(w, voucherAnswer)
		case "email":
			http.Error(w, "boom", 500) // one search failing does not lose the others
		default:
			io.WriteString(w, `{"data": []}`)
		}
	}))
	defer srv.Close()
	c, err := New(Config{QueryURL: srv.URL, UIURL: "http://ui.example/"})
	if err != nil {
		t.Fatal(err)
	}
	wf, err := c.BookingTrace(context.Background(), "B")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, s := range wf.Spans {
		rows = append(rows, fmt.Sprintf("%s/%s %s d%d %.2f+%.2f err=%t", s.TraceID, s.SpanID, s.Service, s.Depth, s.OffsetPct, s.WidthPct, s.Error))
	}
	want := []string{
		"t1/a web d0 0.00+5.00 err=false",
		"t1/b booking d1 2.50+20.00 err=true",
		"t1/c voucher d2 25.00+25.00 err=false",
		"t2/r voucher d0 75.00+25.00 err=false",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("spans\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if wf.DurationMS != 2 || strings.Join(wf.Services, ",") != "web,booking,voucher" || len(wf.Traces) != 2 ||
		wf.Traces[0].URL != "http://ui.example/trace/t1" || wf.Traces[1].ID != "t2" {
		t.Fatalf("waterfall %+v", wf)
	}
}

func TestBookingTrace_FailsOnlyWhenNoSearchIsAnswered(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }))
	defer srv.Close()
	c, err := New(Config{QueryURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.BookingTrace(context.Background(), "B"); err == nil {
		t.Fatal("no error when Jaeger answers nothing")
	}
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"data": null}`) }))
	defer empty.Close()
	c, _ = New(Config{QueryURL: empty.URL})
	wf, err := c.BookingTrace(context.Background(), "B")
	if err != nil || len(wf.Spans) != 0 || wf.Spans == nil || wf.Traces == nil {
		t.Fatalf("no spans yet: %+v %v", wf, err)
	}
	if _, err := New(Config{QueryURL: "localhost:16686"}); err == nil {
		t.Fatal("a URL without scheme accepted")
	}
}

func TestSearchURL_FindsTheBookingByItsTagAroundItsTime(t *testing.T) {
	t.Parallel()
	made := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c, err := New(Config{QueryURL: "http://jaeger:16686", UIURL: "http://localhost:16686/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := url.Parse(c.SearchURL("B-1", made, made.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	q := got.Query()
	if got.Scheme+"://"+got.Host+got.Path != "http://localhost:16686/search" || q.Get("service") != "web" ||
		q.Get("tags") != `{"booking.id":"B-1"}` || q.Get("lookback") != "custom" ||
		q.Get("start") != fmt.Sprint(made.Add(-10*time.Minute).UnixMicro()) ||
		q.Get("end") != fmt.Sprint(made.Add(11*time.Minute).UnixMicro()) {
		t.Errorf("search URL %s", got)
	}

	noUI, err := New(Config{QueryURL: "http://jaeger:16686"})
	if err != nil {
		t.Fatal(err)
	}
	if u := noUI.SearchURL("B-1", made, made); u != "" {
		t.Errorf("no JAEGER_UI_URL, yet a link %q", u)
	}
}
