package app

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/services/booking/internal/adapters/postgres"
	"github.com/staybook/staybook/services/booking/internal/domain"
	"github.com/staybook/staybook/shared/contracts"
)

// memoryRepo is a Repository in memory: bookings by ID, the catalogue, and
// a record of what the use cases asked of it. It keeps the rules of
// postgres.Repository that the use cases rely on (a duplicate ID is not
// created again; task changes follow the domain), not its inventory.
type memoryRepo struct {
	mu             sync.Mutex
	hotels         []domain.Hotel
	catalogueCalls int
	catalogueErr   error
	bookings       map[string]domain.Booking
	keys           map[string]string
	createErr      error
	afterCreate    func() // runs once a booking is stored
	created        []createCall
	availability   []domain.Stay
}

type createCall struct {
	cmd      contracts.BookRoom
	decision domain.Decision
	events   postgres.Events
}

var lisbon = domain.Hotel{ID: "lisbon", Name: "Lisbon Inn", City: "Lisbon", Address: "Rua 1", RoomTypes: []domain.RoomType{
	{ID: "double", Name: "Double room", Capacity: 2, PricePerNight: 10000, Currency: "EUR", TotalRooms: 3},
}}

func newMemoryRepo() *memoryRepo {
	return &memoryRepo{hotels: []domain.Hotel{lisbon}, bookings: map[string]domain.Booking{}, keys: map[string]string{}}
}

func (r *memoryRepo) Catalogue(context.Context) ([]domain.Hotel, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catalogueCalls++
	if r.catalogueErr != nil {
		return nil, r.catalogueErr
	}
	return slices.Clone(r.hotels), nil
}

func (r *memoryRepo) Availability(_ context.Context, hotelID string, stay domain.Stay) (map[string]int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.availability = append(r.availability, stay)
	return map[string]int{"double": 2}, nil
}

func (r *memoryRepo) Get(_ context.Context, id string) (domain.Booking, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bookings[id]
	if !ok {
		return b, postgres.ErrNotFound
	}
	return b, nil
}

func (r *memoryRepo) BookingIDByIdempotencyKey(_ context.Context, keyHash string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.keys[keyHash]
	if !ok {
		return "", postgres.ErrNotFound
	}
	return id, nil
}

func (r *memoryRepo) CreateBooking(_ context.Context, cmd contracts.BookRoom, d domain.Decision, ev postgres.Events) (domain.Booking, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created = append(r.created, createCall{cmd, d, ev})
	if r.createErr != nil {
		return domain.Booking{}, false, r.createErr
	}
	if b, ok := r.bookings[cmd.BookingID]; ok {
		return b, false, nil
	}
	status := contracts.StatusConfirmed
	if d.Reject != "" {
		status = contracts.StatusRejected
	}
	b := domain.Booking{
		ID: cmd.BookingID, HotelID: cmd.HotelID, RoomType: cmd.RoomType, CheckIn: cmd.CheckIn, CheckOut: cmd.CheckOut,
		Guests: cmd.Guests, GuestName: cmd.GuestName, GuestEmail: cmd.GuestEmail, Status: status, Reason: d.Reject,
		TotalPrice: d.Total, Version: 1, Tasks: domain.InitialTasks(status),
	}
	r.bookings[b.ID] = b
	if cmd.IdempotencyKeyHash != "" {
		r.keys[cmd.IdempotencyKeyHash] = b.ID
	}
	if r.afterCreate != nil {
		r.afterCreate()
	}
	return b, true, nil
}

func (r *memoryRepo) SetTask(_ context.Context, bookingID, task, state string) (domain.Booking, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bookings[bookingID]
	if !ok {
		return b, false, postgres.ErrNotFound
	}
	changed, err := b.SetTask(task, state)
	if err != nil || !changed {
		return b, false, err
	}
	b.Version++
	r.bookings[bookingID] = b
	return b, true, nil
}

// clock is a settable Config.Now.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func command(id string) contracts.BookRoom {
	return contracts.BookRoom{
		BookingID: id, HotelID: "lisbon", RoomType: "double", CheckIn: "2031-03-10", CheckOut: "2031-03-13",
		Guests: 2, GuestName: "Ada", GuestEmail: "ada@example.com", RequestedAt: time.Now(),
	}
}

func TestCatalogue_IsCachedForTheRefreshPeriod(t *testing.T) {
	repo, c := newMemoryRepo(), &clock{now: time.Now()}
	s := New(repo, Config{CatalogueRefresh: time.Minute, Now: c.Now})
	list, byID, err := s.Catalogue(context.Background())
	if err != nil || len(list) != 1 || byID["lisbon"].Name != "Lisbon Inn" {
		t.Fatalf("catalogue %v %v %v", list, byID, err)
	}
	c.now = c.now.Add(time.Minute - time.Nanosecond)
	s.Catalogue(context.Background())
	if repo.catalogueCalls != 1 {
		t.Fatalf("%d loads within the refresh period, want 1", repo.catalogueCalls)
	}
	c.now = c.now.Add(time.Nanosecond)
	s.Catalogue(context.Background())
	if repo.catalogueCalls != 2 {
		t.Fatalf("%d loads once the period is over, want 2", repo.catalogueCalls)
	}
}

func TestCatalogue_ADatabaseErrorServesTheLastCatalogue(t *testing.T) {
	repo, c := newMemoryRepo(), &clock{now: time.Now()}
	s := New(repo, Config{Now: c.Now})
	repo.catalogueErr = errors.New("database down")
	if _, _, err := s.Catalogue(context.Background()); err == nil {
		t.Fatal("no catalogue and no error")
	}
	repo.catalogueErr = nil
	s.Catalogue(context.Background())
	repo.catalogueErr = errors.New("database down")
	c.now = c.now.Add(time.Hour) // the default refresh (a minute) is over
	list, byID, err := s.Catalogue(context.Background())
	if err != nil || len(list) != 1 || byID["lisbon"].ID != "lisbon" {
		t.Fatalf("stale catalogue: %v %v %v", list, byID, err)
	}
	if repo.catalogueCalls != 3 {
		t.Fatalf("%d loads, want 3 (the stale one tried again)", repo.catalogueCalls)
	}
}

func TestBookRoom_DecidesAgainstTheCatalogueAndStoresWithTheEventsAsked(t *testing.T) {
	repo, c := newMemoryRepo(), &clock{now: time.Now()}
	s := New(repo, Config{CommandTTL: time.Hour, Now: c.Now})
	b, created, err := s.BookRoom(context.Background(), command("b1"), true)
	if err != nil || !created || b.Status != contracts.StatusConfirmed || b.TotalPrice.Amount != 30000 {
		t.Fatalf("%+v %v %v", b, created, err)
	}
	unknown := command("b2")
	unknown.HotelID = "atlantis"
	if b, _, _ := s.BookRoom(context.Background(), unknown, false); b.Reason != contracts.ReasonUnknownRoomType {
		t.Fatalf("unknown hotel: %+v", b)
	}
	old := command("b3")
	old.RequestedAt = c.now.Add(-2 * time.Hour)
	if b, _, _ := s.BookRoom(context.Background(), old, true); b.Reason != contracts.ReasonExpired {
		t.Fatalf("expired (TTL and clock from the config): %+v", b)
	}
	if got := []bool{repo.created[0].events.Fanout, repo.created[1].events.Fanout}; !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("fanout passed as %v", got)
	}
	if d := repo.created[0].decision; d.Hotel.ID != "lisbon" || d.RoomType.ID != "double" || d.Stay.Nights() != 3 {
		t.Fatalf("decision %+v", d)
	}
	if _, created, _ := s.BookRoom(context.Background(), command("b1"), true); created {
		t.Fatal("a redelivered command created a booking again")
	}
}

func TestBookRoom_StorageAndCatalogueErrorsAreReturned(t *testing.T) {
	repo := newMemoryRepo()
	repo.createErr = errors.New("serialization failure")
	s := New(repo, Config{})
	if _, created, err := s.BookRoom(context.Background(), command("b1"), true); !errors.Is(err, repo.createErr) || created {
		t.Fatalf("created %v, err %v", created, err)
	}
	repo = newMemoryRepo()
	repo.catalogueErr = errors.New("database down")
	s = New(repo, Config{})
	if _, _, err := s.BookRoom(context.Background(), command("b1"), true); !errors.Is(err, repo.catalogueErr) || len(repo.created) != 0 {
		t.Fatalf("err %v, %d stored", err, len(repo.created))
	}
}

func TestAvailability_ChecksTheHotelAndTheStayFirst(t *testing.T) {
	repo := newMemoryRepo()
	s := New(repo, Config{})
	free, err := s.Availability(context.Background(), "lisbon", "2031-03-10", "2031-03-12")
	want := domain.Stay{CheckIn: time.Date(2031, 3, 10, 0, 0, 0, 0, time.UTC), CheckOut: time.Date(2031, 3, 12, 0, 0, 0, 0, time.UTC)}
	if err != nil || free["double"] != 2 || len(repo.availability) != 1 || repo.availability[0] != want {
		t.Fatalf("free %v, err %v, asked %v", free, err, repo.availability)
	}
	if _, err := s.Availability(context.Background(), "atlantis", "2031-03-10", "2031-03-12"); !IsNotFound(err) {
		t.Fatalf("unknown hotel: %v", err)
	}
	if _, err := s.Availability(context.Background(), "lisbon", "2031-03-12", "2031-03-10"); !errors.Is(err, ErrInvalidStay) {
		t.Fatalf("check-out before check-in: %v", err)
	}
	repo.catalogueErr = errors.New("database down")
	if _, err := New(repo, Config{}).Availability(context.Background(), "lisbon", "2031-03-10", "2031-03-12"); !errors.Is(err, repo.catalogueErr) {
		t.Fatalf("catalogue error: %v", err)
	}
	if len(repo.availability) != 1 {
		t.Fatalf("the repository was asked %d times, want once", len(repo.availability))
	}
}

func TestQueries_BookingAndIdempotencyKey(t *testing.T) {
	repo := newMemoryRepo()
	s := New(repo, Config{})
	cmd := command("b1")
	cmd.IdempotencyKeyHash = "hash"
	s.BookRoom(context.Background(), cmd, true)
	if b, err := s.Booking(context.Background(), "b1"); err != nil || b.ID != "b1" {
		t.Fatalf("booking %+v %v", b, err)
	}
	if _, err := s.Booking(context.Background(), "b2"); !IsNotFound(err) {
		t.Fatalf("unknown booking: %v", err)
	}
	if id, err := s.BookingIDByIdempotencyKey(context.Background(), "hash"); err != nil || id != "b1" {
		t.Fatalf("key: %q %v", id, err)
	}
	if _, err := s.BookingIDByIdempotencyKey(context.Background(), "other"); !IsNotFound(err) {
		t.Fatalf("unknown key: %v", err)
	}
	if IsNotFound(errors.New("not found")) {
		t.Fatal("IsNotFound matches by text")
	}
}

func TestRecordTask_FollowsTheDomainRules(t *testing.T) {
	repo := newMemoryRepo()
	s := New(repo, Config{})
	s.BookRoom(context.Background(), command("b1"), true)
	if b, changed, err := s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskDone); err != nil || !changed || b.Version != 2 {
		t.Fatalf("%+v %v %v", b, changed, err)
	}
	if _, changed, _ := s.RecordTask(context.Background(), "b1", contracts.TaskVoucher, contracts.TaskFailedState); changed {
		t.Fatal("a late failure undid done")
	}
	if _, _, err := s.RecordTask(context.Background(), "b9", contracts.TaskVoucher, contracts.TaskDone); !IsNotFound(err) {
		t.Fatalf("a booking not stored yet: %v", err)
	}
}
