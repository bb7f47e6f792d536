package ports

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/staybook/staybook/services/deadletters/internal/app"
	"github.com/staybook/staybook/services/deadletters/internal/domain"
)

func TestRequireToken_RefusesEverythingWithoutAConfiguredToken(t *testing.T) {
	h := RequireToken("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request let through")
	}))
	for _, auth := range []string{"", "Bearer ", "Bearer anything"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/admin/dead-letters", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		h.ServeHTTP(rec, req)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusServiceUnavailable || body.Error.Message != ErrAdminDisabled {
			t.Errorf("Authorization %q: %d %s", auth, rec.Code, rec.Body)
		}
	}
}

func TestRequireToken_AcceptsOnlyTheBearerToken(t *testing.T) {
	const token = "s3cret-token"
	passed := 0
	h := RequireToken(token)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed++
		w.WriteHeader(http.StatusOK)
	}))
	cases := []struct {
		auth string
		code int
	}{
		{"", 401},
		{"Bearer", 401},
		{"Bearer wrong", 401},
		{"Bearer s3cret-token-and-more", 401},
		{"Bearer s3cret-toke", 401},
		{"Basic s3cret-token", 401},
		{"s3cret-token", 401},
		{"Bearer s3cret-token", 200},
		{"bearer s3cret-token", 200},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/admin/dead-letters", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, rec.Code, tc.code)
		}
		if tc.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: 401 without WWW-Authenticate", tc.auth)
		}
	}
	if passed != 2 {
		t.Errorf("%d requests passed, want 2", passed)
	}
}

// listOnly is a repository that answers listings with nothing.
type listOnly struct{ app.Repository }

func (listOnly) List(context.Context, domain.ListFilter) ([]domain.Letter, error) {
	return []domain.Letter{}, nil
}

type noRepublish struct{}

func (noRepublish) Republish(context.Context, domain.Letter) error { return nil }

func TestList_BadQueryNamesTheField(t *testing.T) {
	mux := http.NewServeMux()
	(&Admin{App: app.New(listOnly{}, noRepublish{}, app.Config{}), Log: slog.New(slog.DiscardHandler), Token: "t"}).Register(mux)
	cases := map[string]string{
		"status=purged": "status",
		"status=nope":   "status",
		"limit=abc":     "limit",
		"limit=0":       "",
		"limit=501":     "limit",
		"before=monday": "before",
		"before=" + time.Now().UTC().Format(time.RFC3339Nano) + ",some-id": "",
		"status=dead&handler=create_voucher&reason=50%25":                  "",
	}
	for query, field := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/admin/dead-letters?"+query, nil)
		req.Header.Set("Authorization", "Bearer t")
		mux.ServeHTTP(rec, req)
		var body struct {
			DeadLetters []any `json:"dead_letters"`
			Error       struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &body)
		switch {
		case field == "" && (rec.Code != 200 || body.DeadLetters == nil):
			t.Errorf("%s: %d %s, want 200 with an empty list", query, rec.Code, rec.Body)
		case field != "" && (rec.Code != 422 || body.Error.Field != field):
			t.Errorf("%s: %d %s, want 422 naming %s", query, rec.Code, rec.Body, field)
		}
	}
}

func TestLetterJSON_ShowsJSONPayloadsAsTextAndOthersAsBase64(t *testing.T) {
	cases := []struct {
		payload, want, encoding string
	}{
		{`{"booking_id":"b"}`, `{"booking_id":"b"}`, EncodingJSON},
		{"not json", "bm90IGpzb24=", EncodingBase64},
		{"", "", EncodingBase64},
		{"\xff\xfe", "//4=", EncodingBase64},
	}
	for _, tc := range cases {
		got := toJSON(domain.Letter{Payload: []byte(tc.payload)})
		if got.Payload != tc.want || got.PayloadEncoding != tc.encoding {
			t.Errorf("payload %q shown as %q (%s), want %q (%s)", tc.payload, got.Payload, got.PayloadEncoding, tc.want, tc.encoding)
		}
	}
}
