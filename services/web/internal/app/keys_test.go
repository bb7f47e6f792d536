package app_test

import (
	"fmt"
	"testing"

	"github.com/staybook/staybook/services/web/internal/app"
)

func TestTakenKeys_RemembersTheFirstBookingOfAKey(t *testing.T) {
	k := app.NewTakenKeys(10)
	k.Learn("h1", "b1")
	k.Learn("h1", "b2")
	if id, ok := k.Booking("h1"); !ok || id != "b1" {
		t.Fatalf("Booking(h1) = %q, %v; want b1", id, ok)
	}
	if _, ok := k.Booking("h2"); ok {
		t.Fatal("an unknown key is known")
	}
	k.Learn("", "b3")
	k.Learn("h3", "")
	if k.Len() != 1 {
		t.Fatalf("Len %d: empty hashes or IDs were learned", k.Len())
	}
}

func TestTakenKeys_ForgetsTheOldestPastItsCapacity(t *testing.T) {
	k := app.NewTakenKeys(3)
	for i := range 5 {
		k.Learn(fmt.Sprint("h", i), fmt.Sprint("b", i))
	}
	if k.Len() != 3 {
		t.Fatalf("Len %d, want 3", k.Len())
	}
	for i := range 5 {
		_, ok := k.Booking(fmt.Sprint("h", i))
		if want := i >= 2; ok != want {
			t.Errorf("h%d known %v, want %v", i, ok, want)
		}
	}
}

func TestTakenKeys_TheBookingServicesWordReplacesWhatThisReplicaLearned(t *testing.T) {
	k := app.NewTakenKeys(10)
	k.Learn("h1", "mine")
	k.Bind("h1", "stored")
	if id, _ := k.Booking("h1"); id != "stored" {
		t.Fatalf("Booking(h1) = %q, want the stored booking", id)
	}
	k.Learn("h1", "mine-again")
	if id, _ := k.Booking("h1"); id != "stored" {
		t.Fatalf("Booking(h1) = %q after Learn, want the stored booking still", id)
	}
	if k.Len() != 1 {
		t.Fatalf("Len %d", k.Len())
	}
}
