package ports_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/staybook/staybook/services/voucher/internal/app"
	"github.com/staybook/staybook/services/voucher/internal/domain"
	"github.com/staybook/staybook/services/voucher/internal/ports"
	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/httpx"
	"github.com/staybook/staybook/shared/messaging"
)

const id = "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01"

type fakeCreator struct {
	err  error
	seen []contracts.BookingConfirmed
}

func (f *fakeCreator) Handle(_ context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, error) {
	f.seen = append(f.seen, ev)
	return contracts.VoucherCreated{BookingID: ev.BookingID}, f.err
}

func (f *fakeCreator) Create(_ context.Context, ev contracts.BookingConfirmed) (contracts.VoucherCreated, bool, error) {
	f.seen = append(f.seen, ev)
	return contracts.VoucherCreated{BookingID: ev.BookingID, SizeBytes: 42}, true, f.err
}

type fakeSource map[string]domain.Record

func (s fakeSource) PDF(_ context.Context, bookingID string) (domain.Record, error) {
	if _, err := domain.ParseBookingID(bookingID); err != nil {
		return domain.Record{}, domain.ErrNotFound
	}
	rec, ok := s[bookingID]
	if !ok {
		return domain.Record{}, domain.ErrNotFound
	}
	return rec, nil
}

func TestBookingConfirmedHandler_MapsErrorsToPermanentOrTransient(t *testing.T) {
	t.Parallel()
	invalid := fmt.Errorf("%w: %w", app.ErrInvalidBooking, &domain.ValidationError{Field: "guests", Message: "0"})
	cases := []struct {
		name      string
		ucErr     error
		wantErr   bool
		permanent bool
	}{
		{"valid", nil, false, false},
		{"invalid booking", invalid, true, true},
		{"store down", errors.New("connection refused"), true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			creator := &fakeCreator{err: c.ucErr}
			h := ports.NewBookingConfirmedHandler(creator)
			if h.HandlerName() != "create_voucher" {
				t.Fatalf("handler name %q", h.HandlerName())
			}
			err := h.Handle(context.Background(), &contracts.BookingConfirmed{BookingID: id})
			if len(creator.seen) != 1 || creator.seen[0].BookingID != id {
				t.Fatalf("use case saw %+v", creator.seen)
			}
			if (err != nil) != c.wantErr || messaging.IsPermanent(err) != c.permanent {
				t.Fatalf("err = %v (permanent %v); want error %v, permanent %v", err, messaging.IsPermanent(err), c.wantErr, c.permanent)
			}
		})
	}
}

func newAPI(creator *fakeCreator) http.Handler {
	created := time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC)
	return ports.NewHTTPHandler(ports.HTTPConfig{
		Vouchers: fakeSource{id: {BookingID: id, PDF: []byte("%PDF-1.3 test"), SizeBytes: 13, SHA256: []byte{0xab}, CreatedAt: created}},
		Creator:  creator,
	})
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) (code, field string) {
	t.Helper()
	var body httpx.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
	}
	return body.Error.Code, body.Error.Field
}

func TestGetVoucher_ServesThePDF(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	newAPI(&fakeCreator{}).ServeHTTP(rec, httptest.NewRequest("GET", "/internal/vouchers/"+id+".pdf", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/pdf" || rec.Body.String() != "%PDF-1.3 test" {
		t.Fatalf("%d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	etag := rec.Header().Get("ETag")
	req := httptest.NewRequest("GET", "/internal/vouchers/"+id+".pdf", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	newAPI(&fakeCreator{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("with If-None-Match %s: %d", etag, rec.Code)
	}
}

func TestGetVoucher_UnknownOrMalformedIDIsA404WithAJSONError(t *testing.T) {
	t.Parallel()
	for _, path := range []string{
		"/internal/vouchers/00000000-0000-4000-8000-000000000000.pdf", // no such voucher
		"/internal/vouchers/not-a-uuid.pdf",
		"/internal/vouchers/" + id, // no .pdf
		"/internal/vouchers/" + id + ".txt",
	} {
		rec := httptest.NewRecorder()
		newAPI(&fakeCreator{}).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if code, _ := errorCode(t, rec); rec.Code != 404 || code != "not_found" {
			t.Errorf("%s: %d %s", path, rec.Code, code)
		}
	}
}

func TestPostVoucher_DirectModeAnswers201WithVoucherCreated(t *testing.T) {
	t.Parallel()
	creator := &fakeCreator{}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/internal/vouchers", strings.NewReader(`{"booking_id":"`+id+`","guests":2}`))
	req.Header.Set("Content-Type", "application/json")
	newAPI(creator).ServeHTTP(rec, req)
	var got contracts.VoucherCreated
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 201 || got.BookingID != id || got.SizeBytes != 42 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if len(creator.seen) != 1 || creator.seen[0].Guests != 2 {
		t.Fatalf("use case saw %+v", creator.seen)
	}
}

func TestPostVoucher_BadInputIsA4xxNamingTheField(t *testing.T) {
	t.Parallel()
	invalid := fmt.Errorf("%w: %w", app.ErrInvalidBooking, &domain.ValidationError{Field: "check_in", Message: "not a date"})
	cases := []struct {
		body   string
		err    error
		status int
		code   string
		field  string
	}{
		{`{"booking_id":`, nil, 400, "malformed_json", ""},
		{`{"guests":"two"}`, nil, 400, "malformed_json", "guests"},
		{`{"booking_id":"` + id + `"}`, invalid, 422, "invalid_field", "check_in"},
		{`{"booking_id":"` + id + `"}`, errors.New("database down"), 503, "unavailable", ""},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		newAPI(&fakeCreator{err: c.err}).ServeHTTP(rec, httptest.NewRequest("POST", "/internal/vouchers", strings.NewReader(c.body)))
		code, field := errorCode(t, rec)
		if rec.Code != c.status || code != c.code || field != c.field {
			t.Errorf("%s: %d %s %q; want %d %s %q", c.body, rec.Code, code, field, c.status, c.code, c.field)
		}
	}
}
