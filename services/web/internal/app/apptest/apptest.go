// Package apptest holds in-memory doubles of the web tier's app ports, for
// the tests of the ports that call the use cases (the JSON API, the pages).
package apptest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

// Catalogue is what the doubles sell: one hotel with a double and a single room.
func Catalogue() *domain.Catalogue {
	return &domain.Catalogue{Hotels: []domain.Hotel{
		{ID: "lisbon-alfama-house", Name: "Alfama House", City: "Lisbon", Stars: 3, RoomTypes: []domain.RoomType{
			{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 9500, Currency: "EUR", TotalRooms: 12},
			{ID: "single", Name: "Single room", Capacity: 1, PricePerNight: 6600, Currency: "EUR", TotalRooms: 4},
		}},
	}}
}

// StaticCatalogue always has Catalogue (app.Catalogue).
type StaticCatalogue struct{}

// Get returns Catalogue.
func (StaticCatalogue) Get(context.Context) (*domain.Catalogue, error) { return Catalogue(), nil }

// BookingService is the booking service in memory (app.BookingService): it
// knows no booking and no key, books whatever it is sent and counts the
// direct bookings.
type BookingService struct {
	mu    sync.Mutex
	books int
}

// Booking: none is known.
func (*BookingService) Booking(context.Context, string) (*domain.Booking, error) {
	return nil, app.ErrBookingNotFound
}

// Availability: nothing free.
func (*BookingService) Availability(context.Context, string, string, string) (*domain.Availability, error) {
	return &domain.Availability{}, nil
}

// Book makes the booking, confirmed.
func (b *BookingService) Book(_ context.Context, cmd contracts.BookRoom) (*domain.Booking, bool, error) {
	b.mu.Lock()
	b.books++
	b.mu.Unlock()
	return &domain.Booking{ID: cmd.BookingID, Status: contracts.StatusConfirmed, HotelID: cmd.HotelID, RoomType: cmd.RoomType,
		CheckIn: cmd.CheckIn, CheckOut: cmd.CheckOut, Guests: cmd.Guests, GuestName: cmd.GuestName}, true, nil
}

// Booked is how many bookings Book made.
func (b *BookingService) Booked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.books
}

// Commands accepts every command and counts them (app.Commands).
type Commands struct {
	mu sync.Mutex
	n  int
}

// Send counts cmd.
func (c *Commands) Send(context.Context, any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return nil
}

// Sent is how many commands were sent.
func (c *Commands) Sent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// NoVouchers has no voucher (app.Vouchers).
type NoVouchers struct{}

// Voucher: not found.
func (NoVouchers) Voucher(context.Context, string) (*app.VoucherPDF, error) {
	return nil, app.ErrVoucherNotFound
}

// Bookings are the real use cases over the doubles, with transport
// (app.TransportQueue or app.TransportDirect) and the clock at now.
func Bookings(t testing.TB, transport string, now time.Time) (*app.Bookings, *Commands, *BookingService) {
	t.Helper()
	commands, books := &Commands{}, &BookingService{}
	cfg := config(t, books, now)
	cfg.Transport = transport
	if transport == app.TransportQueue {
		cfg.Commands = commands
	}
	b, err := app.NewBookings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, commands, books
}

// BookingsSending are the real use cases over the doubles, sending BookRoom
// through commands (a benchmark's real CommandBus), the clock at now.
func BookingsSending(t testing.TB, commands app.Commands, now time.Time) *app.Bookings {
	t.Helper()
	cfg := config(t, &BookingService{}, now)
	cfg.Transport, cfg.Commands = app.TransportQueue, commands
	b, err := app.NewBookings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func config(t testing.TB, books *BookingService, now time.Time) app.BookingsConfig {
	t.Helper()
	ids, err := domain.NewIssuer(domain.IssuerConfig{Namespace: "6ba7b811-9dad-11d1-80b4-00c04fd430c8", Secret: []byte("fuzz-secret-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	return app.BookingsConfig{IDs: ids, Service: books, Catalogue: StaticCatalogue{}, Vouchers: NoVouchers{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
}
