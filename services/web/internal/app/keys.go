package app

import "sync"

// TakenKeys is what this replica knows of the Idempotency-Keys already
// taken, by the SHA-256 of the key: the booking each one made. It learns
// them from its own accepted bookings and from every booking's status
// change (BookingStatusChanged names the key a new booking took), so a key
// reused with another body is a 422 without asking the booking service.
//
// It is bounded: past Capacity keys, the oldest learned is forgotten. A key
// it does not know (forgotten, learned by another replica a moment ago, or
// before this replica started) goes on to the booking service, which
// checks every key when it stores the booking and rejects a reused one
// (reason idempotency_key_reused).
type TakenKeys struct {
	mu       sync.Mutex
	bookings map[string]string
	order    []string // ring of the keys in the order learned
	next     int
}

// NewTakenKeys returns an empty index of at most capacity keys.
func NewTakenKeys(capacity int) *TakenKeys {
	if capacity < 1 {
		panic("app: TakenKeys capacity must be positive")
	}
	return &TakenKeys{bookings: make(map[string]string, capacity), order: make([]string, capacity)}
}

// Learn records that this replica accepted booking bookingID with the key
// whose hash is keyHash. A key already known keeps its booking.
func (k *TakenKeys) Learn(keyHash, bookingID string) { k.record(keyHash, bookingID, false) }

// Bind records the booking service's word: the key whose hash is keyHash
// took booking bookingID (its status change said so). It replaces what
// this replica had learned: another replica's request may have taken the
// key first.
func (k *TakenKeys) Bind(keyHash, bookingID string) { k.record(keyHash, bookingID, true) }

func (k *TakenKeys) record(keyHash, bookingID string, replace bool) {
	if keyHash == "" || bookingID == "" {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.bookings[keyHash]; ok {
		if replace {
			k.bookings[keyHash] = bookingID
		}
		return
	}
	if old := k.order[k.next]; old != "" {
		delete(k.bookings, old)
	}
	k.order[k.next] = keyHash
	k.next = (k.next + 1) % len(k.order)
	k.bookings[keyHash] = bookingID
}

// Booking is the booking the key made, if this replica knows it.
func (k *TakenKeys) Booking(keyHash string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id, ok := k.bookings[keyHash]
	return id, ok
}

// Len is how many keys are known.
func (k *TakenKeys) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.bookings)
}
