package adapters_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters"
	"github.com/staybook/staybook/services/email/internal/fakes"
)

func TestVoucherClient_NotStoredYetIsAnErrorThenThePDFArrives(t *testing.T) {
	t.Parallel()
	vs := fakes.StartVoucherService(t)
	pdf := fakes.VoucherPDF(t, "b-1")
	vs.Add("b-1", pdf, 1)
	c, err := adapters.NewVoucherClient(adapters.VoucherClientConfig{BaseURL: vs.URL + "/", Timeout: 2 * time.Second})
	testkit.Must(t, err)

	if _, err := c.VoucherPDF(context.Background(), "b-1"); !errors.Is(err, adapters.ErrVoucherNotReady) {
		t.Fatalf("first fetch: %v, want ErrVoucherNotReady", err)
	}
	got, err := c.VoucherPDF(context.Background(), "b-1")
	if err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("second fetch: %d bytes, %v", len(got), err)
	}
	if _, err := c.VoucherPDF(context.Background(), "unknown"); !errors.Is(err, adapters.ErrVoucherNotReady) {
		t.Fatalf("unknown booking: %v", err)
	}
}

func TestVoucherClient_UnreachableServiceIsAnError(t *testing.T) {
	t.Parallel()
	c, err := adapters.NewVoucherClient(adapters.VoucherClientConfig{BaseURL: "http://" + testkit.FreeAddr(t), Timeout: time.Second})
	testkit.Must(t, err)
	if _, err := c.VoucherPDF(context.Background(), "b-1"); err == nil {
		t.Fatal("no error from a closed port")
	}
}

func TestVoucherClient_RefusesALargerPDFThanAllowed(t *testing.T) {
	t.Parallel()
	vs := fakes.StartVoucherService(t)
	vs.Add("b-1", fakes.VoucherPDF(t, "b-1"), 0)
	c, err := adapters.NewVoucherClient(adapters.VoucherClientConfig{BaseURL: vs.URL, MaxBytes: 100})
	testkit.Must(t, err)
	if _, err := c.VoucherPDF(context.Background(), "b-1"); err == nil {
		t.Fatal("oversized voucher accepted")
	}
}
