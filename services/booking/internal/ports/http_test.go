package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/services/booking/internal/ports"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
)

var lisbon = domain.Hotel{ID: "lisbon", Name: "Lisbon Inn", City: "Lisbon", Address: "Rua 1", Stars: 3, RoomTypes: []domain.RoomType{
	{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 10000, Currency: "EUR", TotalRooms: 3},
	{ID: "suite", Name: "Suite", Capacity: 4, PricePerNight: 30000, Currency: "EUR", TotalRooms: 1},
}}

var stored = domain.Booking{
	ID: bookingID, HotelID: "lisbon", RoomType: "double", CheckIn: "2031-03-10", CheckOut: "2031-03-12", Guests: 2,
	GuestName: "Ada", GuestEmail: "ada@example.com", Status: contracts.StatusConfirmed, Version: 3,
	TotalPrice: contracts.Money{Amount: 20000, Currency: "EUR"},
	Tasks:      contracts.Tasks{Voucher: contracts.TaskDone, Email: contracts.TaskDone, Notification: contracts.TaskPending},
	CreatedAt:  time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2031, 3, 1, 9, 0, 5, 0, time.UTC),
}

// downstream is a Downstream the HTTP port only passes on.
type downstream struct{}

func (downstream) CreateVoucher(context.Context, contracts.BookingConfirmed) (contracts.VoucherCreated, error) {
	return contracts.VoucherCreated{}, nil
}

func (downstream) SendEmail(context.Context, contracts.VoucherCreated) (contracts.ConfirmationEmailSent, error) {
	return contracts.ConfirmationEmailSent{}, nil
}

func (downstream) Notify(context.Context, string, any) (contracts.CustomerNotified, error) {
	return contracts.CustomerNotified{}, nil
}

func newFakeApp() *fakeApp {
	return &fakeApp{
		hotels:   []domain.Hotel{lisbon},
		free:     map[string]int{"double": 2},
		bookings: map[string]domain.Booking{bookingID: stored},
		keys:     map[string]string{strings.Repeat("ab", 32): bookingID},
	}
}

func serve(t *testing.T, f *fakeApp, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	(&ports.HTTP{App: f, Downstream: downstream{}, Log: quiet, DirectTimeout: 7 * time.Second}).Register(mux)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	mux.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	return v
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) (code, field string) {
	t.Helper()
	body := decode[httpx.ErrorBody](t, rec)
	return body.Error.Code, body.Error.Field
}

func TestCatalogue_ListsTheHotelsWithTheirRoomTypes(t *testing.T) {
	t.Parallel()
	rec := serve(t, newFakeApp(), "GET", "/internal/catalogue", "")
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	got := decode[struct{ Hotels []domain.Hotel }](t, rec)
	if len(got.Hotels) != 1 || got.Hotels[0].Name != "Lisbon Inn" || got.Hotels[0].Stars != 3 || len(got.Hotels[0].RoomTypes) != 2 ||
		got.Hotels[0].RoomTypes[1] != lisbon.RoomTypes[1] {
		t.Fatalf("catalogue %+v", got)
	}
	f := newFakeApp()
	f.err = errors.New("database down")
	if rec := serve(t, f, "GET", "/internal/catalogue", ""); rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("database down: %d %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestAvailability_EveryRoomTypeOfTheHotelWithItsFreeCount(t *testing.T) {
	t.Parallel()
	rec := serve(t, newFakeApp(), "GET", "/internal/hotels/lisbon/availability?check_in=2031-03-10&check_out=2031-03-12", "")
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	type roomType struct {
		ID        string
		Available int
	}
	got := decode[struct {
		RoomTypes []roomType `json:"room_types"`
	}](t, rec).RoomTypes
	// The suite is not in the free counts: none free.
	if len(got) != 2 || got[0] != (roomType{"double", 2}) || got[1] != (roomType{"suite", 0}) {
		t.Fatalf("room types %+v", got)
	}
	rec = serve(t, newFakeApp(), "GET", "/internal/hotels/atlantis/availability?check_in=2031-03-10&check_out=2031-03-12", "")
	if code, _ := errorCode(t, rec); rec.Code != 404 || code != "not_found" {
		t.Fatalf("unknown hotel: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, newFakeApp(), "GET", "/internal/hotels/lisbon/availability?check_in=2031-03-12&check_out=2031-03-10", "")
	if code, field := errorCode(t, rec); rec.Code != 422 || code != "invalid_field" || field != "check_in" {
		t.Fatalf("bad stay: %d %s", rec.Code, rec.Body)
	}
}

func TestBooking_IsShownWithItsTasks(t *testing.T) {
	t.Parallel()
	rec := serve(t, newFakeApp(), "GET", "/internal/bookings/"+bookingID, "")
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	got := decode[ports.BookingJSON](t, rec)
	want := ports.BookingJSON{
		ID: bookingID, Version: 3, Status: "confirmed", HotelID: "lisbon", RoomType: "double", CheckIn: "2031-03-10", CheckOut: "2031-03-12",
		Guests: 2, GuestName: "Ada", TotalPrice: stored.TotalPrice, Tasks: stored.Tasks, CreatedAt: stored.CreatedAt, UpdatedAt: stored.UpdatedAt,
	}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if strings.Contains(rec.Body.String(), "ada@example.com") {
		t.Fatal("the guest's email address is shown")
	}
	for _, id := range []string{"3f1c1a34-6e0b-4f0e-9c1e-000000000000", "not-a-uuid", strings.ToUpper(bookingID)} {
		if rec := serve(t, newFakeApp(), "GET", "/internal/bookings/"+id, ""); rec.Code != 404 {
			t.Fatalf("booking %s: %d", id, rec.Code)
		}
	}
	f := newFakeApp()
	f.err = errors.New("database down")
	if rec := serve(t, f, "GET", "/internal/bookings/"+bookingID, ""); rec.Code != 503 {
		t.Fatalf("database down: %d", rec.Code)
	}
}

func TestIdempotencyKey_AnswersTheBookingMadeWithIt(t *testing.T) {
	t.Parallel()
	rec := serve(t, newFakeApp(), "GET", "/internal/idempotency-keys/"+strings.Repeat("ab", 32), "")
	if got := decode[map[string]string](t, rec); rec.Code != 200 || got["booking_id"] != bookingID {
		t.Fatalf("%d %v", rec.Code, got)
	}
	for _, hash := range []string{strings.Repeat("cd", 32), "short", strings.Repeat("AB", 32)} {
		if rec := serve(t, newFakeApp(), "GET", "/internal/idempotency-keys/"+hash, ""); rec.Code != 404 {
			t.Fatalf("key %s: %d", hash, rec.Code)
		}
	}
}

func TestBookDirect_CallsTheDirectUseCase(t *testing.T) {
	t.Parallel()
	body := `{"booking_id":"` + bookingID + `","hotel_id":"lisbon","room_type":"double","check_in":"2031-03-10","check_out":"2031-03-12","guests":2}`
	f := newFakeApp()
	f.created = true
	rec := serve(t, f, "POST", "/internal/bookings", body)
	if rec.Code != 201 || decode[ports.BookingJSON](t, rec).Version != 3 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(f.direct) != 1 || f.direct[0].cmd.HotelID != "lisbon" || f.direct[0].cmd.Guests != 2 ||
		f.direct[0].down != (downstream{}) || f.direct[0].timeout != 7*time.Second || len(f.booked) != 0 {
		t.Fatalf("direct calls %+v, queued bookings %d", f.direct, len(f.booked))
	}

	f.created = false
	if rec := serve(t, f, "POST", "/internal/bookings", body); rec.Code != 200 {
		t.Fatalf("a repeated booking: %d", rec.Code)
	}
	f.err = errors.New("voucher service unavailable")
	rec = serve(t, f, "POST", "/internal/bookings", body)
	if code, _ := errorCode(t, rec); rec.Code != 503 || code != "unavailable" || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("failed chain: %d %s", rec.Code, rec.Body)
	}

	f = newFakeApp()
	rec = serve(t, f, "POST", "/internal/bookings", strings.Replace(body, bookingID, "b1", 1))
	if code, field := errorCode(t, rec); rec.Code != 422 || code != "invalid_field" || field != "booking_id" || len(f.direct) != 0 {
		t.Fatalf("not a UUID: %d %s, %d calls", rec.Code, rec.Body, len(f.direct))
	}
	if rec := serve(t, f, "POST", "/internal/bookings", "{"); rec.Code/100 != 4 || len(f.direct) != 0 {
		t.Fatalf("bad JSON: %d", rec.Code)
	}
}
