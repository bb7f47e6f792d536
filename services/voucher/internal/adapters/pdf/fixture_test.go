package pdf

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// emailFixture is the voucher the email service's tests and benchmark
// attach (services/email/internal/adapters/vouchertest): a real one, rendered here.
var emailFixture = filepath.Join("..", "..", "..", "..", "email", "internal", "adapters", "vouchertest", "testdata", "voucher.pdf")

// TestEmailFixture_IsAVoucherThisRendererMakes keeps the email service's
// fixture equal to what the service renders (rendering is deterministic:
// the PDF's dates are the voucher's issue time). After a change to the
// layout, regenerate it:
//
//	STAYBOOK_UPDATE_FIXTURES=1 go test ./services/voucher/internal/adapters/pdf -run EmailFixture
func TestEmailFixture_IsAVoucherThisRendererMakes(t *testing.T) {
	doc, err := newRenderer(t, Config{Fonts: GoFonts}).Render(context.Background(), sampleVoucher(t))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("STAYBOOK_UPDATE_FIXTURES") != "" {
		if err := os.WriteFile(emailFixture, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(emailFixture)
	if err != nil {
		t.Fatalf("%v (STAYBOOK_UPDATE_FIXTURES=1 writes it)", err)
	}
	if !bytes.Equal(got, doc) {
		t.Fatalf("%s (%d bytes) is not the voucher this renderer makes (%d bytes): regenerate it with STAYBOOK_UPDATE_FIXTURES=1", emailFixture, len(got), len(doc))
	}
}
