// Package ntfytest is a stand-in ntfy server for tests: it accepts what
// ntfy's HTTP publish API accepts (POST or PUT /<topic>, the message as body,
// Title/Tags/Priority/Click headers, RFC 2047 encoded if not ASCII), records
// each message and answers as ntfy does; or fails on demand.
package ntfytest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one publish as the ntfy server received it.
type Message struct {
	Topic         string
	Title         string
	Message       string
	Tags          []string
	Priority      string
	Click         string
	Authorization string
}

// Server is the stand-in.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	messages []Message
	attempts int
	status   int
}

var topicPattern = regexp.MustCompile(`^/([-_A-Za-z0-9]{1,64})$`)

// New starts a server, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// FailWith makes every later publish answer status (0: succeed again).
func (s *Server) FailWith(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Messages are the messages published successfully, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Attempts counts every publish request, failed ones included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	m := topicPattern.FindStringSubmatch(r.URL.Path)
	if (r.Method != http.MethodPost && r.Method != http.MethodPut) || m == nil {
		writeError(w, http.StatusNotFound, 40401, "page not found")
		return
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.attempts++
	status := s.status
	s.mu.Unlock()
	if status != 0 {
		writeError(w, status, status*100, http.StatusText(status))
		return
	}
	var dec mime.WordDecoder
	title, err := dec.DecodeHeader(r.Header.Get("Title"))
	if err != nil {
		writeError(w, http.StatusBadRequest, 40000, "invalid title")
		return
	}
	msg := Message{
		Topic:         m[1],
		Title:         title,
		Message:       string(body),
		Priority:      r.Header.Get("Priority"),
		Click:         r.Header.Get("Click"),
		Authorization: r.Header.Get("Authorization"),
	}
	if tags := r.Header.Get("Tags"); tags != "" {
		msg.Tags = strings.Split(tags, ",")
	}
	s.mu.Lock()
	s.messages = append(s.messages, msg)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "stub", "time": time.Now().Unix(), "event": "message",
		"topic": msg.Topic, "title": msg.Title, "message": msg.Message, "tags": msg.Tags,
	})
}

func writeError(w http.ResponseWriter, status, code int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "http": status, "error": strings.ToLower(text)})
}
