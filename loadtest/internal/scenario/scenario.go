// Package scenario says what the load test sends: browsing (the hotel list,
// a hotel, its availability), booking (valid POST /api/bookings into the
// large load-test hotels, each with an Idempotency-Key, some sent again as
// a client retrying would) or a mix of both, as a vegeta Targeter.
package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Kinds of request, carried in HeaderKind and echoed back in the response.
const (
	KindBrowse = "browse"
	KindBook   = "book"
	// KindRepeat is a booking request sent again with the same body and
	// Idempotency-Key: it must get the same booking ID.
	KindRepeat = "repeat"
)

// Headers the targeter sets; EchoTransport copies them into the response.
const (
	HeaderKind           = "X-Loadtest-Kind"
	HeaderIdempotencyKey = "Idempotency-Key"
	// EchoPrefix prefixes the request headers copied into the response.
	EchoPrefix = "X-Loadtest-Echo-"
	// HeaderTraceparent starts every request's trace here (W3C Trace
	// Context), so that the report can link a booking to its trace.
	HeaderTraceparent = "traceparent"
	// HeaderBaggage marks the traffic synthetic: the services set the span
	// attribute staybook.synthetic=loadtest on every span of its traces
	// (shared/telemetry.SyntheticBaggage).
	HeaderBaggage = "baggage"
	// Synthetic is the baggage every request carries.
	Synthetic = "staybook.synthetic=loadtest"
)

// LoadTestHotelPrefix marks the seed's large hotels, the only ones booked.
const LoadTestHotelPrefix = "loadtest-"

// Scenarios.
const (
	Browse = "browse"
	Book   = "book"
	Mixed  = "mixed"
)

// Web tier limits the bookings must respect (services/web/internal/domain/request.go).
const (
	maxDaysAhead = 700 // the web tier refuses check-in more than 2 years ahead
	maxNights    = 7   // the web tier allows 30; shorter stays are the common case
)

// Hotel is a hotel of the catalogue as the public API shows it.
type Hotel struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	RoomTypes []RoomType `json:"room_types"`
}

// RoomType is a room type of a hotel.
type RoomType struct {
	ID         string `json:"id"`
	Capacity   int    `json:"capacity"`
	TotalRooms int    `json:"total_rooms"`
}

// LoadCatalogue reads the catalogue from the web tier's public API.
func LoadCatalogue(ctx context.Context, client *http.Client, target string) ([]Hotel, error) {
	var list struct {
		Hotels []struct {
			ID string `json:"id"`
		} `json:"hotels"`
	}
	if err := getJSON(ctx, client, target+"/api/hotels", &list); err != nil {
		return nil, err
	}
	hotels := make([]Hotel, 0, len(list.Hotels))
	for _, h := range list.Hotels {
		var hotel Hotel
		if err := getJSON(ctx, client, target+"/api/hotels/"+h.ID, &hotel); err != nil {
			return nil, err
		}
		hotels = append(hotels, hotel)
	}
	if len(hotels) == 0 {
		return nil, fmt.Errorf("catalogue of %s is empty", target)
	}
	return hotels, nil
}

func getJSON(ctx context.Context, client *http.Client, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// Config configures a Generator.
type Config struct {
	// Target is the web tier's base URL.
	Target string
	// Scenario is browse, book or mixed.
	Scenario string
	// BookShare is the share of booking requests in the mixed scenario (default 0.15).
	BookShare float64
	// RepeatShare is the share of booking requests that send an earlier
	// request again, same body and key (default 0.05; negative: none).
	RepeatShare float64
	// RunID makes the Idempotency-Keys of this run unique.
	RunID string
	// Seed makes the sequence of requests repeatable.
	Seed uint64
	// Now is the clock the dates are chosen from (default time.Now).
	Now func() time.Time
	// TraceShare is the share of requests sent with a sampled trace
	// context (default 1: all). The others carry one with the sampled flag
	// off, which the services follow: a long run can keep Jaeger's trace
	// cap for whole traces of a sample of its bookings.
	TraceShare float64
}

// Booking is the body of POST /api/bookings.
type Booking struct {
	HotelID    string `json:"hotel_id"`
	RoomType   string `json:"room_type"`
	CheckIn    string `json:"check_in"`
	CheckOut   string `json:"check_out"`
	Guests     int    `json:"guests"`
	GuestName  string `json:"guest_name"`
	GuestEmail string `json:"guest_email"`
}

type sentBooking struct {
	key  string
	body []byte
}

// Generator makes the requests of a scenario; it is safe for concurrent use.
type Generator struct {
	cfg      Config
	hotels   []Hotel // every hotel, for browsing
	bookable []Hotel // the load-test hotels

	mu     sync.Mutex
	rng    *rand.Rand
	n      int
	recent []sentBooking // a ring of recent bookings, for repeats
}

// New returns a generator over the catalogue.
func New(cfg Config, hotels []Hotel) (*Generator, error) {
	switch cfg.Scenario {
	case Browse, Book, Mixed:
	default:
		return nil, fmt.Errorf("scenario %q: want browse, book or mixed", cfg.Scenario)
	}
	if cfg.BookShare == 0 {
		cfg.BookShare = 0.15
	}
	if cfg.RepeatShare == 0 {
		cfg.RepeatShare = 0.05
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TraceShare <= 0 || cfg.TraceShare > 1 {
		cfg.TraceShare = 1
	}
	if cfg.RunID == "" {
		cfg.RunID = time.Now().UTC().Format("20060102T150405")
	}
	g := &Generator{cfg: cfg, hotels: hotels, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))}
	for _, h := range hotels {
		if strings.HasPrefix(h.ID, LoadTestHotelPrefix) && len(h.RoomTypes) > 0 {
			g.bookable = append(g.bookable, h)
		}
	}
	if cfg.Scenario != Browse && len(g.bookable) == 0 {
		return nil, fmt.Errorf("the catalogue has no %s* hotel to book (is the booking service's seed applied?)", LoadTestHotelPrefix)
	}
	return g, nil
}

// Targeter returns the scenario as a vegeta Targeter.
func (g *Generator) Targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case g.cfg.Scenario == Browse,
			g.cfg.Scenario == Mixed && g.rng.Float64() >= g.cfg.BookShare:
			g.browse(t)
		default:
			g.book(t)
		}
		tp := NewTraceparent()
		// Not from g.rng: the share must not change the sequence of
		// requests a -seed gives.
		if rand.Float64() >= g.cfg.TraceShare {
			tp = tp[:len(tp)-2] + "00"
		}
		t.Header.Set(HeaderTraceparent, tp)
		t.Header.Set(HeaderBaggage, Synthetic)
		return nil
	}
}

// NewTraceparent is a new trace context, sampled: a random trace ID and
// parent span ID (from the runtime's random source, so unique across runs
// even with the same -seed).
func NewTraceparent() string {
	return fmt.Sprintf("00-%016x%016x-%016x-01", rand.Uint64(), rand.Uint64(), rand.Uint64()|1)
}

// Sampled reports whether a traceparent header has the sampled flag.
func Sampled(traceparent string) bool { return strings.HasSuffix(traceparent, "-01") }

// TraceID is the trace ID of a traceparent header ("" if malformed).
func TraceID(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}

func (g *Generator) browse(t *vegeta.Target) {
	t.Method = http.MethodGet
	t.Header = http.Header{HeaderKind: {KindBrowse}}
	h := g.hotels[g.rng.IntN(len(g.hotels))]
	switch p := g.rng.Float64(); {
	case p < 0.2:
		t.URL = g.cfg.Target + "/api/hotels"
	case p < 0.65:
		t.URL = g.cfg.Target + "/api/hotels/" + h.ID
	default:
		in, out := g.stay(3)
		t.URL = fmt.Sprintf("%s/api/hotels/%s/availability?check_in=%s&check_out=%s", g.cfg.Target, h.ID, in, out)
	}
}

func (g *Generator) book(t *vegeta.Target) {
	t.Method = http.MethodPost
	t.URL = g.cfg.Target + "/api/bookings"
	if len(g.recent) > 0 && g.rng.Float64() < g.cfg.RepeatShare {
		s := g.recent[g.rng.IntN(len(g.recent))]
		t.Body = s.body
		t.Header = http.Header{"Content-Type": {"application/json"}, HeaderIdempotencyKey: {s.key}, HeaderKind: {KindRepeat}}
		return
	}
	g.n++
	b := g.Booking(g.n)
	body, _ := json.Marshal(b) // strings and ints always encode
	key := fmt.Sprintf("loadtest-%s-%d", g.cfg.RunID, g.n)
	t.Body = body
	t.Header = http.Header{"Content-Type": {"application/json"}, HeaderIdempotencyKey: {key}, HeaderKind: {KindBook}}
	const ring = 1000
	if len(g.recent) < ring {
		g.recent = append(g.recent, sentBooking{key, body})
	} else {
		g.recent[g.n%ring] = sentBooking{key, body}
	}
}

// Booking makes the n-th booking request: a load-test hotel, one of its
// room types, a stay starting within the next 700 days, guests within the
// room's capacity, a random guest. Callers hold g.mu (or own g).
func (g *Generator) Booking(n int) Booking {
	h := g.bookable[g.rng.IntN(len(g.bookable))]
	rt := h.RoomTypes[g.rng.IntN(len(h.RoomTypes))]
	in, out := g.stay(maxNights)
	first, last := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
	return Booking{
		HotelID: h.ID, RoomType: rt.ID, CheckIn: in, CheckOut: out,
		Guests:    1 + g.rng.IntN(max(rt.Capacity, 1)),
		GuestName: first.name + " " + last.name,
		GuestEmail: fmt.Sprintf("%s.%s.%s-%d@example.com", first.ascii, last.ascii,
			strings.ToLower(g.cfg.RunID), n),
	}
}

// stay picks a check-in from tomorrow to maxDaysAhead days ahead (UTC) and
// 1 to nights nights.
func (g *Generator) stay(nights int) (string, string) {
	y, m, d := g.cfg.Now().UTC().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	in := today.AddDate(0, 0, 1+g.rng.IntN(maxDaysAhead))
	out := in.AddDate(0, 0, 1+g.rng.IntN(nights))
	return in.Format(time.DateOnly), out.Format(time.DateOnly)
}

type name struct{ name, ascii string }

// Guests come from many countries: the voucher and the email must cope.
var (
	firstNames = []name{{"Anna", "anna"}, {"José", "jose"}, {"Łukasz", "lukasz"}, {"Zoë", "zoe"}, {"Mehmet", "mehmet"},
		{"Chloé", "chloe"}, {"Jonas", "jonas"}, {"Sofia", "sofia"}, {"Dmitri", "dmitri"}, {"Aoife", "aoife"},
		{"Björn", "bjorn"}, {"Inês", "ines"}, {"Mateo", "mateo"}, {"Eleni", "eleni"}, {"Kwame", "kwame"}, {"Priya", "priya"}}
	lastNames = []name{{"García", "garcia"}, {"Müller", "muller"}, {"Kowalski", "kowalski"}, {"O'Brien", "obrien"},
		{"Rossi", "rossi"}, {"Dubois", "dubois"}, {"Nowak", "nowak"}, {"Silva", "silva"}, {"Jensen", "jensen"},
		{"Papadopoulos", "papadopoulos"}, {"Novák", "novak"}, {"Smith", "smith"}, {"Yılmaz", "yilmaz"}, {"Van Dijk", "vandijk"}}
)

// EchoTransport copies the load test's request headers (kind, Idempotency-
// Key) into the response, so that a vegeta Result, which keeps response
// headers only, says which request it answers.
type EchoTransport struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (e EchoTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := e.Base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	for _, h := range []string{HeaderKind, HeaderIdempotencyKey} {
		if v := req.Header.Get(h); v != "" {
			resp.Header.Set(EchoPrefix+h, v)
		}
	}
	return resp, nil
}

// UntracedTransport marks every request synthetic and not sampled: a new
// trace context with the sampled flag off, which the services' parent-based
// sampler follows, so that the load test's own reads (the drain polls each
// booking's status, thousands of times in a long run) leave no trace in
// Jaeger to push the bookings' traces out of its cap.
type UntracedTransport struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (u UntracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	tp := NewTraceparent()
	req.Header.Set(HeaderTraceparent, tp[:len(tp)-2]+"00")
	req.Header.Set(HeaderBaggage, Synthetic)
	base := u.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}

// Echoed returns the request header h as echoed in response headers.
func Echoed(resp http.Header, h string) string { return resp.Get(EchoPrefix + h) }

// BodyOf is for tests: the body of a target as a Booking.
func BodyOf(t *vegeta.Target) (Booking, error) {
	var b Booking
	err := json.NewDecoder(bytes.NewReader(t.Body)).Decode(&b)
	return b, err
}
