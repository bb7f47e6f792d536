package site

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// Search is the home page's search form, as typed.
type Search struct {
	City     string
	CheckIn  string
	CheckOut string
	Guests   string
	// Errors are messages by field (check_in, check_out, guests).
	Errors map[string]string
	// MinDate is today, for the date pickers.
	MinDate string
}

// Dated reports whether the search has valid dates (availability is shown).
func (s Search) Dated() bool {
	return s.CheckIn != "" && s.CheckOut != "" && s.Errors["check_in"] == "" && s.Errors["check_out"] == ""
}

// Query is the search as a query string, carried to the hotel pages.
func (s Search) Query() string {
	q := url.Values{}
	for k, v := range map[string]string{"check_in": s.CheckIn, "check_out": s.CheckOut, "guests": s.Guests} {
		if v != "" && s.Errors[k] == "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// Offer is one hotel on the home page.
type Offer struct {
	Hotel     domain.Hotel
	PriceFrom int64
	Currency  string
	// Availability, when the search has dates: rooms free for the party on
	// every night, or AvailabilityUnknown when it could not be checked.
	Availability *int
	Unknown      bool
}

// Home is the home page's data.
type Home struct {
	Search Search
	Cities []string
	Offers []Offer
	Guests int
	Nights int
}

// home is GET /: the hotel offers from the cached catalogue, filtered by
// city and party size, with availability when dates are given.
func (s *Site) home(w http.ResponseWriter, r *http.Request) {
	cat := s.catalogueOrError(w, r)
	if cat == nil {
		return
	}
	q := r.URL.Query()
	today := s.today()
	search := Search{
		City: strings.TrimSpace(q.Get("city")), CheckIn: q.Get("check_in"), CheckOut: q.Get("check_out"),
		Guests: strings.TrimSpace(q.Get("guests")), Errors: map[string]string{}, MinDate: today,
	}
	guests := 1
	if search.Guests != "" {
		n, err := strconv.Atoi(search.Guests)
		if err != nil || n < 1 || n > domain.MaxGuests {
			search.Errors["guests"] = "Guests must be a whole number from 1 to " + strconv.Itoa(domain.MaxGuests)
		} else {
			guests = n
		}
	}
	nights := 0
	if search.CheckIn != "" || search.CheckOut != "" {
		in, out, err := app.ValidateStay(search.CheckIn, search.CheckOut, s.cfg.Now())
		var re *httpx.RequestError
		if errors.As(err, &re) {
			search.Errors[re.Field] = humanise(re.Message)
		} else {
			nights = int(out.Sub(in).Hours() / 24)
		}
	}

	home := matchingOffers(cat, Home{Search: search, Guests: guests, Nights: nights})
	if search.Dated() {
		s.addAvailability(r.Context(), home.Offers, search.CheckIn, search.CheckOut, guests)
	}
	title := "Hotels"
	if search.City != "" {
		title = "Hotels in " + search.City
	}
	s.render(w, r, http.StatusOK, "home", Page{Title: title, Body: "home", Data: home})
}

// matchingOffers fills home with the catalogue's cities and the offers of
// the hotels that match its search.
func matchingOffers(cat *domain.Catalogue, home Home) Home {
	seen := map[string]bool{}
	for _, h := range cat.Hotels {
		if !seen[h.City] {
			seen[h.City] = true
			home.Cities = append(home.Cities, h.City)
		}
		if home.Search.City != "" && !strings.EqualFold(h.City, home.Search.City) {
			continue
		}
		if maxCapacity(h) < home.Guests {
			continue
		}
		o := Offer{Hotel: h}
		for i, rt := range h.RoomTypes {
			if i == 0 || rt.PricePerNight < o.PriceFrom {
				o.PriceFrom, o.Currency = rt.PricePerNight, rt.Currency
			}
		}
		home.Offers = append(home.Offers, o)
	}
	slices.Sort(home.Cities)
	return home
}

func maxCapacity(h domain.Hotel) int {
	n := 0
	for _, rt := range h.RoomTypes {
		n = max(n, rt.Capacity)
	}
	return n
}

// addAvailability asks the booking service, a few hotels at a time, how
// many rooms that sleep the party are free on every night of the stay. A
// hotel it cannot answer for is shown as unknown: browsing survives a
// booking service that is down.
func (s *Site) addAvailability(ctx context.Context, offers []Offer, checkIn, checkOut string, guests int) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sem := make(chan struct{}, s.cfg.AvailabilityConcurrency)
	var wg sync.WaitGroup
	for i := range offers {
		o := &offers[i]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			av, err := s.cfg.Bookings.Availability(ctx, o.Hotel.ID, checkIn, checkOut)
			if err != nil {
				s.log.DebugContext(ctx, "availability unknown", "hotel_id", o.Hotel.ID, "err", err)
				o.Unknown = true
				return
			}
			n := freeRooms(o.Hotel, av, guests)
			o.Availability = &n
		})
	}
	wg.Wait()
}

// freeRooms counts the free rooms of the room types that sleep guests.
func freeRooms(h domain.Hotel, av *domain.Availability, guests int) int {
	n := 0
	for _, ra := range av.RoomTypes {
		if rt, ok := h.RoomType(ra.ID); ok && rt.Capacity >= guests {
			n += ra.Available
		}
	}
	return n
}

// today is the current date in UTC, as the booking rules count it.
func (s *Site) today() string { return s.cfg.Now().UTC().Format(time.DateOnly) }
