package voucherclient_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/testkit"

	"github.com/staybook/staybook/services/email/internal/adapters/voucherclient"
	"github.com/staybook/staybook/services/email/internal/adapters/vouchertest"
)

func TestVoucherClient_NotStoredYetIsAnErrorThenThePDFArrives(t *testing.T) {
	t.Parallel()
	vs := vouchertest.StartVoucherService(t)
	pdf := vouchertest.VoucherPDF(t, "b-1")
	vs.Add("b-1", pdf, 1)
	c, err := voucherclient.New(voucherclient.Config{BaseURL: vs.URL + "/", Timeout: 2 * time.Second})
	testkit.Must(t, err)

	if _, err := c.VoucherPDF(context.Background(), "b-1"); !errors.Is(err, voucherclient.ErrNotReady) {
		t.Fatalf("first fetch: %v, want ErrNotReady", err)
	}
	got, err := c.VoucherPDF(context.Background(), "b-1")
	if err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("second fetch: %d bytes, %v", len(got), err)
	}
	if _, err := c.VoucherPDF(context.Background(), "unknown"); !errors.Is(err, voucherclient.ErrNotReady) {
		t.Fatalf("unknown booking: %v", err)
	}
}

func TestVoucherClient_UnreachableServiceIsAnError(t *testing.T) {
	t.Parallel()
	c, err := voucherclient.New(voucherclient.Config{BaseURL: "http://" + testkit.FreeAddr(t), Timeout: time.Second})
	testkit.Must(t, err)
	if _, err := c.VoucherPDF(context.Background(), "b-1"); err == nil {
		t.Fatal("no error from a closed port")
	}
}

func TestVoucherClient_RefusesALargerPDFThanAllowed(t *testing.T) {
	t.Parallel()
	vs := vouchertest.StartVoucherService(t)
	vs.Add("b-1", vouchertest.VoucherPDF(t, "b-1"), 0)
	c, err := voucherclient.New(voucherclient.Config{BaseURL: vs.URL, MaxBytes: 100})
	testkit.Must(t, err)
	if _, err := c.VoucherPDF(context.Background(), "b-1"); err == nil {
		t.Fatal("oversized voucher accepted")
	}
}
