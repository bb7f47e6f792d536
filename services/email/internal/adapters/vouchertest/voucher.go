// Package vouchertest is a test double of the voucher service: its
// GET /internal/vouchers/{id}.pdf, serving real PDFs. Only tests import it.
package vouchertest

import (
	"bytes"
	_ "embed"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jung-kurt/gofpdf"
)

// RealVoucher is a voucher as the voucher service renders it (19.8 KB, its
// fonts embedded), for measurements where the attachment's size matters.
// The voucher service's pdf tests keep it equal to what its renderer makes.
//
//go:embed testdata/voucher.pdf
var RealVoucher []byte

// VoucherPDF renders a small, real PDF for a booking.
func VoucherPDF(t testing.TB, bookingID string) []byte {
	t.Helper()
	pdf := gofpdf.New("P", "mm", "A4", "")
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 16)
	pdf.Cell(40, 10, "Staybook voucher")
	pdf.Ln(12)
	pdf.SetFont("Helvetica", "", 12)
	pdf.Cell(40, 10, "Booking "+bookingID)
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		t.Fatalf("render voucher pdf: %v", err)
	}
	return b.Bytes()
}

// VoucherService is the voucher service's GET /internal/vouchers/{id}.pdf.
type VoucherService struct {
	*httptest.Server

	mu       sync.Mutex
	pdfs     map[string][]byte
	missing  map[string]int // answers 404 this many more times
	requests map[string]int
}

// StartVoucherService starts the fake; it stops when the test ends.
func StartVoucherService(t testing.TB) *VoucherService {
	v := &VoucherService{pdfs: map[string][]byte{}, missing: map[string]int{}, requests: map[string]int{}}
	v.Server = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.Close)
	return v
}

// Add makes the booking's voucher available, after notYet 404 answers.
func (v *VoucherService) Add(bookingID string, pdf []byte, notYet int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pdfs[bookingID] = pdf
	v.missing[bookingID] = notYet
}

// Requests counts the requests for the booking's voucher.
func (v *VoucherService) Requests(bookingID string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests[bookingID]
}

func (v *VoucherService) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/internal/vouchers/")
	id, isPDF := strings.CutSuffix(id, ".pdf")
	if r.Method != http.MethodGet || !ok || !isPDF {
		http.NotFound(w, r)
		return
	}
	v.mu.Lock()
	v.requests[id]++
	pdf, found := v.pdfs[id]
	if found && v.missing[id] > 0 {
		v.missing[id]--
		found = false
	}
	v.mu.Unlock()
	if !found {
		http.Error(w, `{"error":{"code":"not_found","message":"no voucher"}}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Write(pdf)
}
