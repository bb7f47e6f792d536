// Package jaegerclient reads a booking's trace from Jaeger's query API and lays
// its spans out as a waterfall: one time line across every service, each
// span a bar whose offset and width are percentages of the whole.
//
// Every Staybook span that handles a booking carries the booking.id
// attribute (the web tier's request, each publish and each consumer), so a
// search by that tag in each service finds the booking's traces: usually
// one, more when a replay or a lost trace context started another.
package jaegerclient

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/staybook/staybook/shared/telemetry"

	"github.com/staybook/staybook/services/web/internal/domain"
)

// DefaultServices are the services searched for a booking's spans.
var DefaultServices = []string{"web", "booking", "voucher", "email", "notification", "deadletters"}

// MaxSpans bounds the spans of one waterfall.
const MaxSpans = 1000

// minWidthPct keeps a very short span visible as a sliver.
const minWidthPct = 0.3

// Config configures a Client.
type Config struct {
	// QueryURL is Jaeger's query API (JAEGER_QUERY_URL).
	QueryURL string
	// UIURL, if set, is Jaeger's UI (JAEGER_UI_URL), for links to each trace.
	UIURL string
	// Services are searched for spans with the booking's ID (default DefaultServices).
	Services []string
	// Lookback is how far back a search looks (default 7 days).
	Lookback time.Duration
	// Timeout bounds one search (default 5 s).
	Timeout time.Duration
	Client  *http.Client
	Now     func() time.Time
}

// Client searches Jaeger.
type Client struct {
	cfg   Config
	query string
	ui    string
}

// New builds a Client.
func New(cfg Config) (*Client, error) {
	q, err := checkURL("JAEGER_QUERY_URL", cfg.QueryURL)
	if err != nil {
		return nil, err
	}
	ui := ""
	if cfg.UIURL != "" {
		if ui, err = checkURL("JAEGER_UI_URL", cfg.UIURL); err != nil {
			return nil, err
		}
	}
	if len(cfg.Services) == 0 {
		cfg.Services = DefaultServices
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = 7 * 24 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, query: q, ui: ui}, nil
}

func checkURL(name, s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: %q is not an http(s) URL", name, s)
	}
	return u.String(), nil
}

// Jaeger's query API answer (GET /api/traces).
type tracesAnswer struct {
	Data   []jTrace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

type jTrace struct {
	TraceID   string              `json:"traceID"`
	Spans     []jSpan             `json:"spans"`
	Processes map[string]jProcess `json:"processes"`
}

type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64  `json:"startTime"` // µs since the epoch
	Duration  int64  `json:"duration"`  // µs
	Tags      []jTag `json:"tags"`
	ProcessID string `json:"processID"`
}

type jTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type jProcess struct {
	ServiceName string `json:"serviceName"`
}

// BookingTrace searches every service for spans tagged with the booking's
// ID and merges their traces into one waterfall. A waterfall with no spans
// is returned when Jaeger answers but knows none; an error when no search
// got an answer.
func (c *Client) BookingTrace(ctx context.Context, bookingID string) (*domain.Waterfall, error) {
	var (
		mu     sync.Mutex
		traces = map[string]jTrace{}
		errs   []error
		wg     sync.WaitGroup
	)
	for _, svc := range c.cfg.Services {
		wg.Go(func() {
			found, err := c.search(ctx, svc, bookingID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, t := range found {
				merged := traces[t.TraceID]
				merged.TraceID = t.TraceID
				merged.Spans = append(merged.Spans, t.Spans...)
				if merged.Processes == nil {
					merged.Processes = map[string]jProcess{}
				}
				// Process IDs are per answer: qualify them so that two
				// answers' "p1" do not mix.
				for i := range len(t.Spans) {
					s := &merged.Spans[len(merged.Spans)-len(t.Spans)+i]
					s.ProcessID = svc + "/" + s.ProcessID
				}
				for id, p := range t.Processes {
					merged.Processes[svc+"/"+id] = p
				}
				traces[t.TraceID] = merged
			}
		})
	}
	wg.Wait()
	if len(errs) == len(c.cfg.Services) {
		return nil, fmt.Errorf("search Jaeger: %w", errors.Join(errs...))
	}
	return c.layout(bookingID, traces), nil
}

func (c *Client) search(ctx context.Context, service, bookingID string) ([]jTrace, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	tags, _ := json.Marshal(map[string]string{string(telemetry.BookingIDKey): bookingID})
	now := c.cfg.Now()
	q := url.Values{
		"service": {service},
		"tags":    {string(tags)},
		"limit":   {"20"},
		"start":   {strconv.FormatInt(now.Add(-c.cfg.Lookback).UnixMicro(), 10)},
		"end":     {strconv.FormatInt(now.Add(time.Minute).UnixMicro(), 10)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.query+"/api/traces?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", service, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("search %s: Jaeger answered %s", service, resp.Status)
	}
	var ans tracesAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(&ans); err != nil {
		return nil, fmt.Errorf("search %s: decode: %w", service, err)
	}
	// Keep only traces that do hold a span of this booking (the search
	// should guarantee it; a stray trace would mislead).
	out := ans.Data[:0]
	for _, t := range ans.Data {
		if slices.ContainsFunc(t.Spans, func(s jSpan) bool { return s.tag(string(telemetry.BookingIDKey)) == bookingID }) {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s jSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func (s jSpan) failed() bool {
	return s.tag("error") == "true" || s.tag("otel.status_code") == "ERROR"
}

// layout puts the spans of every trace on one time line, in tree order.
func (c *Client) layout(bookingID string, traces map[string]jTrace) *domain.Waterfall {
	wf := &domain.Waterfall{BookingID: bookingID, Traces: []domain.TraceRef{}, Services: []string{}, Spans: []domain.Bar{}}
	tree := newSpanTree(traces)
	if len(tree.nodes) == 0 {
		return wf
	}
	wf.Start = time.UnixMicro(tree.first).UTC()
	wf.DurationMS = float64(tree.last-tree.first) / 1000
	b := &waterfallBuilder{ui: c.ui, wf: wf, tree: tree, total: float64(max(tree.last-tree.first, 1)),
		seenService: map[string]bool{}, seenTrace: map[string]bool{}, visited: map[string]bool{}}
	slices.SortFunc(tree.roots, tree.byStart)
	for _, r := range tree.roots {
		b.walk(r, 0)
	}
	return wf
}

// spanNode is a span with its service and its place in the tree.
type spanNode struct {
	span     jSpan
	service  string
	parent   string
	children []string
}

// spanTree is the spans of every trace (keyed trace/span), each under its
// parent when the parent was found too, and when the first started and the
// last ended.
type spanTree struct {
	nodes       map[string]*spanNode
	roots       []string
	first, last int64
}

func newSpanTree(traces map[string]jTrace) *spanTree {
	t := &spanTree{nodes: map[string]*spanNode{}}
	for _, tr := range traces {
		for _, s := range tr.Spans {
			key := s.TraceID + "/" + s.SpanID
			if _, dup := t.nodes[key]; dup {
				continue // found by two services' searches
			}
			t.nodes[key] = &spanNode{span: s, service: tr.Processes[s.ProcessID].ServiceName}
		}
	}
	firstSet := false
	for key, n := range t.nodes {
		for _, ref := range n.span.References {
			pk := ref.TraceID + "/" + ref.SpanID
			if _, ok := t.nodes[pk]; ok && pk != key {
				n.parent = pk
				break
			}
		}
		if !firstSet || n.span.StartTime < t.first {
			t.first, firstSet = n.span.StartTime, true
		}
		t.last = max(t.last, n.span.StartTime+n.span.Duration)
	}
	for key, n := range t.nodes {
		if n.parent == "" {
			t.roots = append(t.roots, key)
		} else {
			t.nodes[n.parent].children = append(t.nodes[n.parent].children, key)
		}
	}
	return t
}

func (t *spanTree) byStart(a, b string) int {
	return cmp.Or(cmp.Compare(t.nodes[a].span.StartTime, t.nodes[b].span.StartTime), strings.Compare(a, b))
}

// waterfallBuilder adds the spans of a tree to a waterfall, depth first.
type waterfallBuilder struct {
	ui          string
	wf          *domain.Waterfall
	tree        *spanTree
	total       float64
	seenService map[string]bool
	seenTrace   map[string]bool
	visited     map[string]bool
}

func (b *waterfallBuilder) walk(key string, depth int) {
	if b.visited[key] { // a reference cycle in bad data
		return
	}
	b.visited[key] = true
	if len(b.wf.Spans) == MaxSpans {
		b.wf.Truncated = true
		return
	}
	n := b.tree.nodes[key]
	s := n.span
	first := b.tree.first
	offset := float64(s.StartTime-first) / b.total * 100
	width := max(float64(s.Duration)/b.total*100, minWidthPct)
	width = min(width, 100-offset)
	var parentID string
	if n.parent != "" {
		parentID = b.tree.nodes[n.parent].span.SpanID
	}
	service := cmp.Or(n.service, "unknown")
	b.wf.Spans = append(b.wf.Spans, domain.Bar{
		TraceID: s.TraceID, SpanID: s.SpanID, ParentID: parentID, Service: service, Name: s.OperationName,
		Depth: depth, StartMS: float64(s.StartTime-first) / 1000, DurationMS: float64(s.Duration) / 1000,
		OffsetPct: round2(offset), WidthPct: round2(width), Error: s.failed(),
	})
	if !b.seenService[service] {
		b.seenService[service] = true
		b.wf.Services = append(b.wf.Services, service)
	}
	if !b.seenTrace[s.TraceID] {
		b.seenTrace[s.TraceID] = true
		ref := domain.TraceRef{ID: s.TraceID}
		if b.ui != "" {
			ref.URL = b.ui + "/trace/" + url.PathEscape(s.TraceID)
		}
		b.wf.Traces = append(b.wf.Traces, ref)
	}
	slices.SortFunc(n.children, b.tree.byStart)
	for _, ch := range n.children {
		b.walk(ch, depth+1)
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// SearchURL is the link to a booking's traces in Jaeger's UI: a search of
// the web tier's spans by the booking.id tag, from shortly before from to
// shortly after to (when the booking was made and last changed). It is
// empty when no UI is configured (JAEGER_UI_URL). The search, not one
// trace, because a replayed dead letter starts another trace of the same
// booking; usually it lists exactly one.
func (c *Client) SearchURL(bookingID string, from, to time.Time) string {
	if c.ui == "" {
		return ""
	}
	tags, _ := json.Marshal(map[string]string{string(telemetry.BookingIDKey): bookingID})
	q := url.Values{
		"service":  {"web"},
		"tags":     {string(tags)},
		"lookback": {"custom"},
		"start":    {strconv.FormatInt(from.Add(-10*time.Minute).UnixMicro(), 10)},
		"end":      {strconv.FormatInt(to.Add(10*time.Minute).UnixMicro(), 10)},
		"limit":    {"20"},
	}
	return c.ui + "/search?" + q.Encode()
}
