package apptest

import (
	"testing"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/web/internal/app"
)

// Status is a status change of booking id to confirmed, at version.
func Status(id string, version int64) contracts.BookingStatusChanged {
	return contracts.BookingStatusChanged{BookingID: id, Version: version, Status: contracts.StatusConfirmed}
}

// Take takes the event ready on s, failing the test if none is.
func Take(t *testing.T, s *app.Subscription) contracts.BookingStatusChanged {
	t.Helper()
	select {
	case <-s.Ready():
	default:
		t.Fatal("nothing ready")
	}
	ev, ok := s.Take()
	if !ok {
		t.Fatal("ready but nothing to take")
	}
	return ev
}
