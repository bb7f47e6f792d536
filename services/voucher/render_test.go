package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/staybook/staybook/services/voucher/internal/adapters"
	"github.com/staybook/staybook/services/voucher/internal/domain"
)

func sampleVoucher(t *testing.T) domain.Voucher {
	t.Helper()
	v, err := domain.NewVoucher(domain.ConfirmedBooking{
		BookingID: "3f1c1a34-6e0b-4f0e-9c1e-5f7a2b8d9e01", HotelName: "Hotel Aurora", HotelAddress: "Karl Johans gate 1",
		HotelCity: "Oslo", RoomTypeName: "Double room", CheckIn: "2025-06-02", CheckOut: "2025-06-05", Guests: 2,
		GuestName: "Zoë Ångström", GuestEmail: "zoe@example.com", TotalPrice: domain.Money{Amount: 123450, Currency: "EUR"},
	}, time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type countingRenderer struct{ calls int }

func (r *countingRenderer) Render(context.Context, domain.Voucher) ([]byte, error) {
	r.calls++
	return []byte("%PDF-"), nil
}

func TestSlowRenderer_TheExtraLatencyEndsWithTheContext(t *testing.T) {
	t.Parallel()
	next := &countingRenderer{}
	r := slowRenderer{Renderer: next, delay: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Render(ctx, sampleVoucher(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("render took %s after its context ended", d)
	}
	if next.calls != 0 {
		t.Fatal("rendered although the extra latency was cut short")
	}
}

// VOUCHER_EXTRA_LATENCY is added to every render and counted in
// staybook_voucher_render_duration_seconds, as a render's own time is.
func TestNewRenderer_TheExtraLatencyIsAddedToEveryRenderAndMeasured(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.ExtraLatency = 150 * time.Millisecond
	r, err := newRenderer(cfg, quiet, adapters.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		start := time.Now()
		if _, err := r.Render(context.Background(), sampleVoucher(t)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < cfg.ExtraLatency {
			t.Fatalf("render took %s, want at least the extra latency", d)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "staybook_voucher_render_duration_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 2 || h.GetSampleSum() < 2*cfg.ExtraLatency.Seconds() {
				t.Fatalf("render duration: %d renders, %gs in all; want 2 and at least %s", h.GetSampleCount(), h.GetSampleSum(), 2*cfg.ExtraLatency)
			}
			return
		}
	}
	t.Fatal("no staybook_voucher_render_duration_seconds")
}
