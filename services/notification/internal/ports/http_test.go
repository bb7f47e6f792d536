package ports_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/notification/internal/domain"
	"github.com/staybook/staybook/services/notification/internal/ports"
)

type fakeApp struct {
	got    []domain.Notification
	pushOn bool
}

func (f *fakeApp) Notify(_ context.Context, n domain.Notification) (contracts.CustomerNotified, error) {
	f.got = append(f.got, n)
	return contracts.CustomerNotified{BookingID: n.BookingID, Event: n.Event, Channels: []string{}, NotifiedAt: time.Now()}, nil
}

func (f *fakeApp) Topic(email string) (string, bool) { return "staybook-" + email[:1], f.pushOn }

func post(t *testing.T, h http.Handler, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestDirectNotification_NotifiesAndAnswersTheCustomerNotifiedBody(t *testing.T) {
	t.Parallel()
	app := &fakeApp{}
	h := ports.NewHTTPHandler(ports.HTTPConfig{App: app})
	rec, out := post(t, h, "/internal/notifications",
		`{"event":"BookingRejected","payload":{"booking_id":"b9","reason":"sold_out","guest_email":"ann@example.org","extra":1}}`)
	if rec.Code != http.StatusOK || out["booking_id"] != "b9" || out["event"] != "BookingRejected" {
		t.Fatalf("%d %v", rec.Code, out)
	}
	if len(app.got) != 1 || !strings.Contains(app.got[0].Push.Message, "no room of that type") {
		t.Fatalf("notified %+v", app.got)
	}
}

func TestDirectNotification_RejectsUnknownEventsAndBadPayloadsNamingTheField(t *testing.T) {
	t.Parallel()
	app := &fakeApp{}
	h := ports.NewHTTPHandler(ports.HTTPConfig{App: app})
	cases := []struct{ body, field string }{
		{`{"event":"VoucherCreated","payload":{"booking_id":"b1"}}`, "event"},
		{`{"payload":{"booking_id":"b1"}}`, "event"},
		{`{"event":"BookingConfirmed"}`, "payload"},
		{`{"event":"BookingConfirmed","payload":{"hotel_name":"x"}}`, "payload.booking_id"},
		{`{"event":"BookingConfirmed","payload":{"booking_id":"b1","nights":"three"}}`, "payload.nights"},
	}
	for _, c := range cases {
		rec, out := post(t, h, "/internal/notifications", c.body)
		var body httpx.ErrorBody
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusUnprocessableEntity || body.Error.Field != c.field {
			t.Errorf("%s: %d %v, want 422 naming %s", c.body, rec.Code, out, c.field)
		}
	}
	if len(app.got) != 0 {
		t.Fatalf("notified %d times for bad requests", len(app.got))
	}
}

func TestPushTopics_AnswersTheTopicOr404WhenPushIsOff(t *testing.T) {
	t.Parallel()
	app := &fakeApp{pushOn: true}
	h := ports.NewHTTPHandler(ports.HTTPConfig{App: app, NtfyPublicURL: "http://localhost:8090/"})
	rec, out := post(t, h, "/internal/push-topics", `{"guest_email":"ann@example.org"}`)
	if rec.Code != http.StatusOK || out["topic"] != "staybook-a" || out["subscribe_url"] != "http://localhost:8090/staybook-a" {
		t.Fatalf("%d %v", rec.Code, out)
	}
	if rec, _ := post(t, h, "/internal/push-topics", `{"guest_email":"nope"}`); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("bad address: %d", rec.Code)
	}
	app.pushOn = false
	if rec, _ := post(t, h, "/internal/push-topics", `{"guest_email":"ann@example.org"}`); rec.Code != http.StatusNotFound {
		t.Fatalf("push off: %d", rec.Code)
	}
}
