package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
)

// ErrorBody is the JSON body of every error answer:
// {"error": {"code": "invalid_field", "message": "...", "field": "check_in"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong and, for bad input, which field.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// RequestError is an error that maps to a 4xx answer.
type RequestError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *RequestError) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// FieldError is a 422 naming the field that is wrong.
func FieldError(field, message string) *RequestError {
	return &RequestError{Status: http.StatusUnprocessableEntity, Code: "invalid_field", Field: field, Message: message}
}

// WriteJSON writes v as JSON with the status code.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write json", "err", err)
	}
}

// WriteError writes a JSON error body.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// WriteRequestError writes err as JSON: a *RequestError keeps its status,
// anything else is a 500 whose detail is not shown to the client.
func WriteRequestError(w http.ResponseWriter, err error) {
	var re *RequestError
	if errors.As(err, &re) {
		WriteJSON(w, re.Status, ErrorBody{Error: ErrorDetail{Code: re.Code, Message: re.Message, Field: re.Field}})
		return
	}
	WriteError(w, http.StatusInternalServerError, "internal", "internal error")
}

// DecodeJSON reads one JSON object of at most maxBytes from r's body into dst.
// Unknown fields are ignored (clients may be newer than we are).
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any, maxBytes int64) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &RequestError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: "Content-Type must be application/json"}
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err, maxBytes)
		}
		return &RequestError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "body must hold a single JSON object"}
	}
	return nil
}

func decodeError(err error, maxBytes int64) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return &RequestError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
			Message: fmt.Sprintf("body must not exceed %d bytes", maxBytes)}
	case errors.As(err, &ute):
		return &RequestError{Status: http.StatusBadRequest, Code: "malformed_json", Field: ute.Field,
			Message: fmt.Sprintf("%s must be a %s", ute.Field, ute.Type)}
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return &RequestError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "body is not valid JSON"}
	case errors.Is(err, io.EOF):
		return &RequestError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "body is empty"}
	default:
		return &RequestError{Status: http.StatusBadRequest, Code: "malformed_json", Message: "body is not a JSON object"}
	}
}
