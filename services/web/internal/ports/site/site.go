// Package site is the web tier's HTML: the hotel offers and search, a
// hotel's page with its booking form, the booking page with each background
// task's progress (updated live over Server-Sent Events by the site's one
// script), the admin dead-letter console and a booking's trace waterfall.
//
// Pages are rendered on the server with html/template from embedded
// templates and assets: no front-end build step, no CDN. Nothing is kept
// on the server between requests (the booking form's idempotency key is in
// the form, the admin token in the browser's sessionStorage), so any replica
// serves any request. The pages hold no inline script or style, so the
// Content-Security-Policy forbids both.
package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
	"github.com/staybook/staybook/services/web/internal/domain"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy allows only the site's own scripts, styles, images
// and connections: no inline script or style, no framing, forms that post
// only here.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Catalogue is the cached catalogue (app.CatalogueCache).
type Catalogue interface {
	Get(ctx context.Context) (*domain.Catalogue, error)
}

// Bookings is what the pages read from the booking service (app.Bookings).
type Bookings interface {
	Booking(ctx context.Context, id string) (*domain.Booking, error)
	Availability(ctx context.Context, hotelID, checkIn, checkOut string) (*domain.Availability, error)
}

// Placer takes booking requests (app.Bookings): the form goes through the same
// validation, ID assignment and queueing as the JSON API.
type Placer interface {
	Place(ctx context.Context, req app.BookingRequest, key string) (app.Placed, error)
}

// Config configures the site.
type Config struct {
	Catalogue Catalogue
	Bookings  Bookings
	Placer    Placer
	// VerifyBookingID tells an ID the web tier issued (bookingid.Issuer.Verify).
	VerifyBookingID func(string) bool
	// RetryAfter is the Retry-After of a 503 page.
	RetryAfter time.Duration
	// MaxBodyBytes bounds a form post.
	MaxBodyBytes int64
	// AvailabilityConcurrency bounds the availability calls of one search.
	AvailabilityConcurrency int
	// TraceURL, if set, links the booking page to the booking's trace in
	// Jaeger's UI (jaeger.Client.SearchURL): from and to are when the
	// booking was made and last changed. An empty answer: no link.
	TraceURL func(bookingID string, from, to time.Time) string
	Logger   *slog.Logger
	// Now is the clock ("today" for dates).
	Now func() time.Time
}

// Site serves the HTML pages and their assets.
type Site struct {
	cfg        Config
	log        *slog.Logger
	pages      map[string]*template.Template
	static     fs.FS
	assetHash  map[string]string // file name -> short content hash (cache busting)
	retryAfter string
}

// New parses the templates and hashes the assets.
func New(cfg Config) (*Site, error) {
	if cfg.Catalogue == nil || cfg.Bookings == nil || cfg.Placer == nil || cfg.VerifyBookingID == nil {
		panic("site: missing dependency")
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.AvailabilityConcurrency <= 0 {
		cfg.AvailabilityConcurrency = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s := &Site{cfg: cfg, log: cfg.Logger, static: static, assetHash: map[string]string{},
		retryAfter: strconv.Itoa(int((cfg.RetryAfter + time.Second - 1) / time.Second))}
	err = fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s.assetHash[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash assets: %w", err)
	}
	if s.pages, err = s.parseTemplates(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Site) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"asset":     s.assetURL,
		"money":     Money,
		"date":      displayDate,
		"stars":     stars,
		"plural":    plural,
		"deref":     func(p *int) int { return *p },
		"taskLabel": func(state string) string { return taskLabels[state] },
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	pages := map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := path.Base(n)
		if name == "layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		pages[strings.TrimSuffix(name, ".html")] = t
	}
	return pages, nil
}

// assetURL is the URL of a static file, with its content hash so that a
// new version is fetched at once and an old one may be cached for long.
func (s *Site) assetURL(name string) string {
	return "/static/" + name + "?v=" + s.assetHash[name]
}

// Register adds the pages and assets to mux.
func (s *Site) Register(mux httpx.Router) {
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /hotels/{id}", s.hotel)
	mux.HandleFunc("POST /bookings", s.createBooking)
	mux.HandleFunc("GET /bookings/{id}", s.bookingPage)
	mux.HandleFunc("GET /admin/dead-letters", s.deadLettersConsole)
	mux.HandleFunc("GET /admin/bookings/{id}/trace", s.tracePage)
	mux.HandleFunc("GET /static/{file...}", s.asset)
	// Anything else a browser asks for gets a page that says so (the API's
	// unknown paths keep a JSON answer).
	mux.HandleFunc("GET /", s.notFound)
}

func (s *Site) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	hash, ok := s.assetHash[name]
	if !ok {
		s.notFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	http.ServeFileFS(w, r, s.static, name)
}

// Page is what every page's template gets.
type Page struct {
	Title string
	// Body names the page for the script (data-page on <body>).
	Body string
	// Refresh, if positive, reloads the page every so many seconds when
	// JavaScript is off (a meta refresh inside <noscript>).
	Refresh int
	Data    any
}

// render writes a page with the status code. A template error is a bug:
// it is logged and answered 500, never half a page.
func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, name string, p Page) {
	t, ok := s.pages[name]
	if !ok {
		panic("site: no template " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// ErrorPage is the data of an error page.
type ErrorPage struct {
	Status  int
	Heading string
	Message string
	// Retry offers a link to try the same page again.
	Retry string
}

func (s *Site) errorPage(w http.ResponseWriter, r *http.Request, e ErrorPage) {
	if e.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", s.retryAfter)
	}
	s.render(w, r, e.Status, "error", Page{Title: e.Heading, Body: "error", Data: e})
}

func (s *Site) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		httpx.WriteError(w, http.StatusNotFound, app.CodeNotFound, "no such endpoint")
		return
	}
	s.errorPage(w, r, ErrorPage{Status: http.StatusNotFound, Heading: "Page not found",
		Message: "There is no page at this address. It may have moved, or the link may be mistyped."})
}

func (s *Site) unavailable(w http.ResponseWriter, r *http.Request, what string) {
	s.errorPage(w, r, ErrorPage{Status: http.StatusServiceUnavailable, Heading: "Please try again in a moment",
		Message: what + " is not available right now. Nothing is lost: try again in a few seconds.",
		Retry:   r.URL.RequestURI()})
}

// catalogueOrError returns the catalogue, or answers with a 503 page and returns nil.
func (s *Site) catalogueOrError(w http.ResponseWriter, r *http.Request) *domain.Catalogue {
	cat, err := s.cfg.Catalogue.Get(r.Context())
	if err != nil {
		s.log.WarnContext(r.Context(), "page without catalogue", "err", err)
		s.unavailable(w, r, "Our list of hotels")
		return nil
	}
	return cat
}

// SecurityHeaders sets the headers every answer carries: the CSP, no
// framing, no MIME sniffing, and no referrer outside the site.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// CrossOriginDenied answers a request that http.CrossOriginProtection
// refused: a form or API call sent by another site's page.
func (s *Site) CrossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.log.WarnContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	if strings.HasPrefix(r.URL.Path, "/api/") {
		httpx.WriteError(w, http.StatusForbidden, "cross_origin", "cross-origin requests are not allowed")
		return
	}
	s.errorPage(w, r, ErrorPage{Status: http.StatusForbidden, Heading: "Request refused",
		Message: "This form was sent from another site, so we did not act on it. Open the page on this site and send it again."})
}

// isNotFound reports a booking-service 404.
func isNotFound(err error) bool { return errors.Is(err, app.ErrBookingNotFound) }
