package scenario

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var catalogue = []Hotel{
	{ID: "lisbon-alfama-house", RoomTypes: []RoomType{{ID: "single", Capacity: 1}}},
	{ID: "loadtest-grand-central", RoomTypes: []RoomType{{ID: "single", Capacity: 1}, {ID: "suite", Capacity: 4}, {ID: "family", Capacity: 5}}},
	{ID: "loadtest-harbour-plaza", RoomTypes: []RoomType{{ID: "double", Capacity: 2}}},
}

var fixedNow = time.Date(2026, 3, 10, 23, 59, 0, 0, time.UTC)

func targets(t *testing.T, cfg Config, n int) []vegeta.Target {
	t.Helper()
	cfg.Target, cfg.RunID, cfg.Now = "http://web", "run1", func() time.Time { return fixedNow }
	g, err := New(cfg, catalogue)
	if err != nil {
		t.Fatal(err)
	}
	tr := g.Targeter()
	out := make([]vegeta.Target, n)
	for i := range out {
		if err := tr(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestBook_RequestsAreValidForTheWebTier(t *testing.T) {
	t.Parallel()
	capacity := map[string]int{}
	for _, h := range catalogue {
		for _, rt := range h.RoomTypes {
			capacity[h.ID+"/"+rt.ID] = rt.Capacity
		}
	}
	today := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	keys := map[string]bool{}
	for _, tg := range targets(t, Config{Scenario: Book, RepeatShare: -1}, 2000) {
		if tg.Method != http.MethodPost || tg.URL != "http://web/api/bookings" || tg.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("target %s %s %v", tg.Method, tg.URL, tg.Header)
		}
		b, err := BodyOf(&tg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(b.HotelID, LoadTestHotelPrefix) {
			t.Fatalf("booked %s, not a load-test hotel", b.HotelID)
		}
		c, ok := capacity[b.HotelID+"/"+b.RoomType]
		if !ok || b.Guests < 1 || b.Guests > c {
			t.Fatalf("%s/%s with %d guests (capacity %d)", b.HotelID, b.RoomType, b.Guests, c)
		}
		in, err1 := time.Parse(time.DateOnly, b.CheckIn)
		out, err2 := time.Parse(time.DateOnly, b.CheckOut)
		if err1 != nil || err2 != nil || !in.After(today) || in.After(today.AddDate(2, 0, 0)) || !out.After(in) || out.After(in.AddDate(0, 0, 30)) {
			t.Fatalf("stay %s to %s (today %s)", b.CheckIn, b.CheckOut, today.Format(time.DateOnly))
		}
		if b.GuestName == "" || !strings.Contains(b.GuestEmail, "@example.com") {
			t.Fatalf("guest %q <%s>", b.GuestName, b.GuestEmail)
		}
		key := tg.Header.Get(HeaderIdempotencyKey)
		if key == "" || keys[key] {
			t.Fatalf("Idempotency-Key %q empty or used twice without repeats", key)
		}
		keys[key] = true
	}
}

func TestBook_RepeatsSendAnEarlierRequestWithItsKey(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{}
	repeats := 0
	for _, tg := range targets(t, Config{Scenario: Book, RepeatShare: 0.2}, 1000) {
		key := tg.Header.Get(HeaderIdempotencyKey)
		switch tg.Header.Get(HeaderKind) {
		case KindBook:
			bodies[key] = string(tg.Body)
		case KindRepeat:
			repeats++
			if bodies[key] != string(tg.Body) {
				t.Fatalf("repeat of %s with another body", key)
			}
		}
	}
	if repeats < 150 || repeats > 250 {
		t.Fatalf("%d repeats of 1000, want about 200", repeats)
	}
}

func TestMixed_IsMostlyBrowsing(t *testing.T) {
	t.Parallel()
	books := 0
	for _, tg := range targets(t, Config{Scenario: Mixed}, 2000) {
		switch tg.Header.Get(HeaderKind) {
		case KindBook, KindRepeat:
			books++
		case KindBrowse:
			if tg.Method != http.MethodGet || !strings.HasPrefix(tg.URL, "http://web/api/hotels") {
				t.Fatalf("browse target %s %s", tg.Method, tg.URL)
			}
		}
	}
	if books < 230 || books > 370 {
		t.Fatalf("%d bookings of 2000, want about 15%%", books)
	}
}

func TestNew_RefusesACatalogueWithoutLoadTestHotels(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Scenario: Book}, catalogue[:1]); err == nil {
		t.Fatal("booking scenario accepted without load-test hotels")
	}
	if _, err := New(Config{Scenario: Browse}, catalogue[:1]); err != nil {
		t.Fatalf("browsing needs no load-test hotel: %v", err)
	}
}

func TestEchoTransport_ResponseNamesItsRequest(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }))
	defer srv.Close()
	client := &http.Client{Transport: EchoTransport{Base: http.DefaultTransport}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Header.Set(HeaderIdempotencyKey, "k-1")
	req.Header.Set(HeaderKind, KindRepeat)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if Echoed(resp.Header, HeaderIdempotencyKey) != "k-1" || Echoed(resp.Header, HeaderKind) != KindRepeat {
		t.Fatalf("echoed headers: %v", resp.Header)
	}
}

func TestEveryRequest_StartsItsOwnTraceAndIsMarkedSynthetic(t *testing.T) {
	t.Parallel()
	traces := map[string]bool{}
	tp := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	for _, tg := range targets(t, Config{Scenario: Mixed}, 500) {
		h := tg.Header.Get(HeaderTraceparent)
		if !tp.MatchString(h) || tg.Header.Get(HeaderBaggage) != "staybook.synthetic=loadtest" {
			t.Fatalf("%s %s: traceparent %q, baggage %q", tg.Method, tg.URL, h, tg.Header.Get(HeaderBaggage))
		}
		id := TraceID(h)
		if traces[id] || id == strings.Repeat("0", 32) {
			t.Fatalf("trace ID %s twice or zero", id)
		}
		traces[id] = true
	}
	if TraceID("00-abc-def-01") != "" {
		t.Error("a malformed traceparent has no trace ID")
	}
}

func TestUntracedTransport_SendsANotSampledSyntheticTraceContext(t *testing.T) {
	t.Parallel()
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = append(got, r.Header.Clone()) }))
	defer srv.Close()
	client := &http.Client{Transport: UntracedTransport{}}
	for range 2 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	tp := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-00$`)
	for _, h := range got {
		if !tp.MatchString(h.Get(HeaderTraceparent)) || h.Get(HeaderBaggage) != Synthetic {
			t.Errorf("traceparent %q, baggage %q: want a not-sampled trace context and the synthetic mark", h.Get(HeaderTraceparent), h.Get(HeaderBaggage))
		}
	}
	if len(got) != 2 || got[0].Get(HeaderTraceparent) == got[1].Get(HeaderTraceparent) {
		t.Errorf("want a trace context of its own per request: %v", got)
	}
}

func TestTraceShare_SamplesThatShareAndKeepsTheSequence(t *testing.T) {
	t.Parallel()
	all := targets(t, Config{Scenario: Mixed, Seed: 9}, 2000)
	some := targets(t, Config{Scenario: Mixed, Seed: 9, TraceShare: 0.1}, 2000)
	sampled := 0
	for i := range some {
		if all[i].URL != some[i].URL || !bytes.Equal(all[i].Body, some[i].Body) {
			t.Fatalf("request %d differs with a trace share: the sequence must stay the seed's", i)
		}
		if !Sampled(all[i].Header.Get(HeaderTraceparent)) {
			t.Fatalf("request %d not sampled with the default share", i)
		}
		if Sampled(some[i].Header.Get(HeaderTraceparent)) {
			sampled++
		}
		if some[i].Header.Get(HeaderBaggage) != Synthetic {
			t.Fatalf("request %d not marked synthetic", i)
		}
	}
	if sampled < 140 || sampled > 260 {
		t.Fatalf("%d of 2000 sampled with a share of 0.1", sampled)
	}
}
