package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staybook/staybook/services/booking/internal/app"
	"github.com/staybook/staybook/services/booking/internal/app/apptest"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

var lisbon = domain.Hotel{ID: "lisbon", Name: "Lisbon Inn", City: "Lisbon", Address: "Rua 1", RoomTypes: []domain.RoomType{
	{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 10000, Currency: "EUR", TotalRooms: 3},
}}

func newRepo() *apptest.Repository { return apptest.New(lisbon) }

// clock is a settable Config.Now.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func command(id string) contracts.BookRoom {
	return contracts.BookRoom{
		BookingID: id, HotelID: "lisbon", RoomType: "double", CheckIn: "2031-03-10", CheckOut: "2031-03-13",
		Guests: 2, GuestName: "Ada", GuestEmail: "ada@example.com", RequestedAt: time.Now(),
	}
}

// names are the schema names of events, in order.
func names(events []contracts.Contract) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.SchemaName()
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCatalogue_IsCachedForTheRefreshPeriod(t *testing.T) {
	repo, c := newRepo(), &clock{now: time.Now()}
	s := app.New(repo, app.Config{CatalogueRefresh: time.Minute, Now: c.Now})
	list, byID, err := s.Catalogue(context.Background())
	if err != nil || len(list) != 1 || byID["lisbon"].Name != "Lisbon Inn" {
		t.Fatalf("catalogue %v %v %v", list, byID, err)
	}
	c.now = c.now.Add(time.Minute - time.Nanosecond)
	s.Catalogue(context.Background())
	if n := repo.CatalogueLoads(); n != 1 {
		t.Fatalf("%d loads within the refresh period, want 1", n)
	}
	c.now = c.now.Add(time.Nanosecond)
	s.Catalogue(context.Background())
	if n := repo.CatalogueLoads(); n != 2 {
		t.Fatalf("%d loads once the period is over, want 2", n)
	}
}

func TestCatalogue_ADatabaseErrorServesTheLastCatalogue(t *testing.T) {
	repo, c := newRepo(), &clock{now: time.Now()}
	s := app.New(repo, app.Config{Now: c.Now})
	repo.CatalogueErr = errors.New("database down")
	if _, _, err := s.Catalogue(context.Background()); err == nil {
		t.Fatal("no catalogue and no error")
	}
	repo.CatalogueErr = nil
	s.Catalogue(context.Background())
	repo.CatalogueErr = errors.New("database down")
	c.now = c.now.Add(time.Hour) // the default refresh (a minute) is over
	list, byID, err := s.Catalogue(context.Background())
	if err != nil || len(list) != 1 || byID["lisbon"].ID != "lisbon" {
		t.Fatalf("stale catalogue: %v %v %v", list, byID, err)
	}
	if n := repo.CatalogueLoads(); n != 3 {
		t.Fatalf("%d loads, want 3 (the stale one tried again)", n)
	}
}

func TestBookRoom_DecidesAgainstTheCatalogue(t *testing.T) {
	repo, c := newRepo(), &clock{now: time.Now()}
	s := app.New(repo, app.Config{CommandTTL: time.Hour, Now: c.Now})
	b, created, err := s.BookRoom(context.Background(), command("b1"))
	if err != nil || !created || b.Status != contracts.StatusConfirmed || b.TotalPrice.Amount != 30000 {
		t.Fatalf("%+v %v %v", b, created, err)
	}
	unknown := command("b2")
	unknown.HotelID = "atlantis"
	if b, _, _ := s.BookRoom(context.Background(), unknown); b.Reason != contracts.ReasonUnknownRoomType {
		t.Fatalf("unknown hotel: %+v", b)
	}
	old := command("b3")
	old.RequestedAt = c.now.Add(-2 * time.Hour)
	if b, _, _ := s.BookRoom(context.Background(), old); b.Reason != contracts.ReasonExpired {
		t.Fatalf("expired (TTL and clock from the config): %+v", b)
	}
	if d := repo.Creates()[0].Decision; d.Hotel.ID != "lisbon" || d.RoomType.ID != "double" || d.Stay.Nights() != 3 {
		t.Fatalf("decision %+v", d)
	}
}

func TestBookRoom_AConfirmationIsAnnouncedToTheTasksAndTheStatusFeed(t *testing.T) {
	repo, c := newRepo(), &clock{now: time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := app.New(repo, app.Config{Now: c.Now})
	b, _, err := s.BookRoom(context.Background(), command("b1"))
	if err != nil {
		t.Fatal(err)
	}
	out := repo.Outbox()
	if got := names(out); !equal(got, []string{"BookingConfirmed", "BookingStatusChanged"}) {
		t.Fatalf("outbox %v", got)
	}
	confirmed := out[0].(contracts.BookingConfirmed)
	if confirmed.BookingID != "b1" || confirmed.HotelName != "Lisbon Inn" || confirmed.HotelAddress != "Rua 1" ||
		confirmed.RoomTypeName != "Double room" || confirmed.Nights != 3 || confirmed.Guests != 2 ||
		confirmed.TotalPrice != (contracts.Money{Amount: 30000, Currency: "EUR"}) || confirmed.GuestEmail != "ada@example.com" ||
		!confirmed.ConfirmedAt.Equal(b.CreatedAt) {
		t.Fatalf("BookingConfirmed %+v", confirmed)
	}
	changed := out[1].(contracts.BookingStatusChanged)
	want := contracts.BookingStatusChanged{BookingID: "b1", Version: 1, Status: contracts.StatusConfirmed, Tasks: contracts.Tasks{
		Voucher: contracts.TaskPending, Email: contracts.TaskPending, Notification: contracts.TaskPending,
	}, ChangedAt: c.now}
	if changed != want {
		t.Fatalf("BookingStatusChanged %+v, want %+v", changed, want)
	}
}

func TestBookRoom_ARejectionIsAnnouncedWithTheStoredReason(t *testing.T) {
	repo, c := newRepo(), &clock{now: time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := app.New(repo, app.Config{Now: c.Now})
	tooMany := command("b1")
	tooMany.Guests = 5
	s.BookRoom(context.Background(), tooMany)
	// The decision was to confirm; the storage found no room left.
	for _, id := range []string{"b2", "b3", "b4", "b5"} {
		s.BookRoom(context.Background(), command(id))
	}
	out := repo.Outbox()
	want := []string{
		"BookingRejected", "BookingStatusChanged",
		"BookingConfirmed", "BookingStatusChanged", "BookingConfirmed", "BookingStatusChanged", "BookingConfirmed", "BookingStatusChanged",
		"BookingRejected", "BookingStatusChanged",
	}
	if got := names(out); !equal(got, want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}
	invalid, soldOut := out[0].(contracts.BookingRejected), out[8].(contracts.BookingRejected)
	if invalid.BookingID != "b1" || invalid.Reason != contracts.ReasonInvalidStay || invalid.GuestEmail != "ada@example.com" || !invalid.RejectedAt.Equal(c.now) {
		t.Fatalf("BookingRejected %+v", invalid)
	}
	if soldOut.BookingID != "b5" || soldOut.Reason != contracts.ReasonSoldOut {
		t.Fatalf("sold out: %+v", soldOut)
	}
	status := out[9].(contracts.BookingStatusChanged)
	if status.Status != contracts.StatusRejected || status.Reason != contracts.ReasonSoldOut || status.Tasks.Voucher != contracts.TaskSkipped {
		t.Fatalf("sold out: %+v", status)
	}
}

func TestBookRoom_ARedeliveredCommandStoresAndAnnouncesNothing(t *testing.T) {
	repo := newRepo()
	s := app.New(repo, app.Config{})
	first, _, _ := s.BookRoom(context.Background(), command("b1"))
	again, created, err := s.BookRoom(context.Background(), command("b1"))
	if err != nil || created || again.ID != first.ID || again.Version != first.Version {
		t.Fatalf("%+v %v %v", again, created, err)
	}
	if n := len(repo.Outbox()); n != 2 {
		t.Fatalf("%d events in the outbox, want the first booking's 2", n)
	}
}

func TestBookRoom_StorageAndCatalogueErrorsAreReturned(t *testing.T) {
	repo := newRepo()
	repo.CreateErr = errors.New("serialization failure")
	s := app.New(repo, app.Config{})
	if _, created, err := s.BookRoom(context.Background(), command("b1")); !errors.Is(err, repo.CreateErr) || created {
		t.Fatalf("created %v, err %v", created, err)
	}
	repo = newRepo()
	repo.CatalogueErr = errors.New("database down")
	s = app.New(repo, app.Config{})
	if _, _, err := s.BookRoom(context.Background(), command("b1")); !errors.Is(err, repo.CatalogueErr) || len(repo.Creates()) != 0 {
		t.Fatalf("err %v, %d stored", err, len(repo.Creates()))
	}
	if n := len(repo.Outbox()); n != 0 {
		t.Fatalf("%d events announced without a booking", n)
	}
}

func TestAvailability_ChecksTheHotelAndTheStayFirst(t *testing.T) {
	repo := newRepo()
	s := app.New(repo, app.Config{})
	s.BookRoom(context.Background(), command("b1"))
	free, err := s.Availability(context.Background(), "lisbon", "2031-03-10", "2031-03-12")
	want := domain.Stay{CheckIn: time.Date(2031, 3, 10, 0, 0, 0, 0, time.UTC), CheckOut: time.Date(2031, 3, 12, 0, 0, 0, 0, time.UTC)}
	if stays := repo.Stays(); err != nil || free["double"] != 2 || len(stays) != 1 || stays[0] != want {
		t.Fatalf("free %v, err %v, asked %v", free, err, stays)
	}
	if _, err := s.Availability(context.Background(), "atlantis", "2031-03-10", "2031-03-12"); !app.IsNotFound(err) {
		t.Fatalf("unknown hotel: %v", err)
	}
	if _, err := s.Availability(context.Background(), "lisbon", "2031-03-12", "2031-03-10"); !errors.Is(err, app.ErrInvalidStay) {
		t.Fatalf("check-out before check-in: %v", err)
	}
	repo.CatalogueErr = errors.New("database down")
	if _, err := app.New(repo, app.Config{}).Availability(context.Background(), "lisbon", "2031-03-10", "2031-03-12"); !errors.Is(err, repo.CatalogueErr) {
		t.Fatalf("catalogue error: %v", err)
	}
	if n := len(repo.Stays()); n != 1 {
		t.Fatalf("the repository was asked %d times, want once", n)
	}
}

func TestQueries_BookingAndIdempotencyKey(t *testing.T) {
	repo := newRepo()
	s := app.New(repo, app.Config{})
	cmd := command("b1")
	cmd.IdempotencyKeyHash = "hash"
	s.BookRoom(context.Background(), cmd)
	if b, err := s.Booking(context.Background(), "b1"); err != nil || b.ID != "b1" {
		t.Fatalf("booking %+v %v", b, err)
	}
	if _, err := s.Booking(context.Background(), "b2"); !app.IsNotFound(err) {
		t.Fatalf("unknown booking: %v", err)
	}
	if id, err := s.BookingIDByIdempotencyKey(context.Background(), "hash"); err != nil || id != "b1" {
		t.Fatalf("key: %q %v", id, err)
	}
	if _, err := s.BookingIDByIdempotencyKey(context.Background(), "other"); !app.IsNotFound(err) {
		t.Fatalf("unknown key: %v", err)
	}
	if app.IsNotFound(errors.New("not found")) {
		t.Fatal("IsNotFound matches by text")
	}
}

func TestRecordTask_AChangeBumpsTheVersionAndIsAnnounced(t *testing.T) {
	repo, c := newRepo(), &clock{now: time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := app.New(repo, app.Config{Now: c.Now})
	s.BookRoom(context.Background(), command("b1"))
	c.now = c.now.Add(time.Second)
	b, changed, err := s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskDone)
	if err != nil || !changed || b.Version != 2 || b.Tasks.Voucher != contracts.TaskDone {
		t.Fatalf("%+v %v %v", b, changed, err)
	}
	if stored, _ := s.Booking(context.Background(), "b1"); stored.Version != 2 || stored.Tasks != b.Tasks {
		t.Fatalf("stored %+v", stored)
	}
	out := repo.Outbox()
	want := contracts.BookingStatusChanged{BookingID: "b1", Version: 2, Status: contracts.StatusConfirmed, Tasks: contracts.Tasks{
		Voucher: contracts.TaskDone, Email: contracts.TaskPending, Notification: contracts.TaskPending,
	}, ChangedAt: c.now}
	if len(out) != 3 || out[2] != want {
		t.Fatalf("outbox %+v, want the booking's 2 events and %+v", out, want)
	}

	b, _, _ = s.RecordTask(context.Background(), "b1", contracts.TaskEmail, contracts.TaskFailedState)
	b, changed, err = s.RecordTask(context.Background(), "b1", contracts.TaskEmail, contracts.TaskDone)
	if err != nil || !changed || b.Version != 4 || b.Tasks.Email != contracts.TaskDone {
		t.Fatalf("failed then done: %+v %v %v", b, changed, err)
	}
	if got := repo.Outbox()[4].(contracts.BookingStatusChanged); got.Version != 4 || got.Tasks.Email != contracts.TaskDone {
		t.Fatalf("last event %+v", got)
	}
}

func TestRecordTask_NoChangeIsNotAnnounced(t *testing.T) {
	repo := newRepo()
	s := app.New(repo, app.Config{})
	s.BookRoom(context.Background(), command("b1"))
	s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskDone)
	b, changed, err := s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskFailedState)
	if err != nil || changed || b.Tasks.Voucher != contracts.TaskDone || b.Version != 2 {
		t.Fatalf("a late failure undid done: %+v %v %v", b, changed, err)
	}
	if _, changed, _ := s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskDone); changed {
		t.Fatal("a redelivered event changed the booking again")
	}
	if _, _, err := s.RecordTask(context.Background(), "b1", "laundry", contracts.TaskDone); err == nil || app.IsNotFound(err) {
		t.Fatalf("unknown task: %v", err)
	}
	if n := len(repo.Outbox()); n != 3 {
		t.Fatalf("%d events, want 3 (booked, voucher done)", n)
	}
}

func TestRecordTask_ABookingNotStoredYetIsNotFound(t *testing.T) {
	repo := newRepo()
	s := app.New(repo, app.Config{})
	if _, _, err := s.RecordTask(context.Background(), "b9", contracts.TaskVoucher, contracts.TaskDone); !app.IsNotFound(err) {
		t.Fatalf("a booking not stored yet: %v", err)
	}
	s.BookRoom(context.Background(), command("b1"))
	repo.UpdateErr = errors.New("connection reset")
	if _, _, err := s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskDone); !errors.Is(err, repo.UpdateErr) || app.IsNotFound(err) {
		t.Fatalf("storage error: %v", err)
	}
	if b, _ := s.Booking(context.Background(), "b1"); b.Version != 1 || len(repo.Outbox()) != 2 {
		t.Fatalf("a failed update left %+v and %d events", b, len(repo.Outbox()))
	}
}
