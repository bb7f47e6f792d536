package app_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/staybook/staybook/shared/contracts"

	"github.com/staybook/staybook/services/email/internal/app"
	"github.com/staybook/staybook/services/email/internal/domain"
)

// memStore is an in-memory EmailStore; one mutex stands for the row lock.
type memStore struct {
	mu   sync.Mutex
	rows map[string]domain.Email
}

func (s *memStore) Get(_ context.Context, id string) (domain.Email, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.rows[id]
	if !ok {
		return domain.Email{}, fmt.Errorf("%s: %w", id, domain.ErrEmailNotFound)
	}
	return e, nil
}

func (s *memStore) Claim(ctx context.Context, draft domain.Email, fn func(context.Context, *domain.Email) error) (domain.Email, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.rows[draft.BookingID]
	if !ok {
		e = draft
	}
	err := fn(ctx, &e)
	s.rows[draft.BookingID] = e
	return e, err
}

type fakeVouchers struct{ fetches int }

func (v *fakeVouchers) VoucherPDF(context.Context, string) ([]byte, error) {
	v.fetches++
	return []byte("%PDF-1.3 voucher"), nil
}

type fakeMailer struct {
	sent []domain.OutgoingEmail
	err  error
}

func (m *fakeMailer) Send(_ context.Context, e domain.OutgoingEmail) error {
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, e)
	return nil
}

type fakeEvents struct {
	published []contracts.ConfirmationEmailSent
	err       error
}

func (p *fakeEvents) Publish(_ context.Context, event any) error {
	if p.err != nil {
		return p.err
	}
	e, ok := event.(contracts.ConfirmationEmailSent)
	if !ok {
		return fmt.Errorf("unexpected event %T", event)
	}
	p.published = append(p.published, e)
	return nil
}

type fixture struct {
	store    *memStore
	vouchers *fakeVouchers
	mailer   *fakeMailer
	events   *fakeEvents
	uc       *app.SendConfirmationEmail
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{store: &memStore{rows: map[string]domain.Email{}}, vouchers: &fakeVouchers{}, mailer: &fakeMailer{}, events: &fakeEvents{}}
	uc, err := app.NewSendConfirmationEmail(app.Config{
		Store: f.store, Vouchers: f.vouchers, Mailer: f.mailer, Events: f.events,
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.Date(2026, 5, 1, 9, 30, 0, 123456789, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.uc = uc
	return f
}

var voucher = contracts.VoucherCreated{
	BookingID: "b-1", GuestName: "Ann Lee", GuestEmail: "ann@example.com", HotelName: "Grand Hotel",
	CheckIn: "2026-05-01", CheckOut: "2026-05-03",
}

func TestSendAndAnnounce_SendsOnceAndAnnouncesEveryDelivery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.uc.SendAndAnnounce(ctx, voucher)
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.ConfirmationEmailSent{BookingID: "b-1", GuestName: "Ann Lee", GuestEmail: "ann@example.com",
		MessageID: "<b-1@staybook>", SentAt: time.Date(2026, 5, 1, 9, 30, 0, 123456000, time.UTC)}
	if first != want {
		t.Fatalf("event %+v, want %+v", first, want)
	}
	second, err := f.uc.SendAndAnnounce(ctx, voucher)
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Errorf("redelivery announced %+v, want %+v", second, first)
	}
	if len(f.mailer.sent) != 1 || f.vouchers.fetches != 1 || len(f.events.published) != 2 {
		t.Errorf("sent %d, fetched %d, published %d; want 1, 1, 2", len(f.mailer.sent), f.vouchers.fetches, len(f.events.published))
	}
}

func TestSendAndAnnounce_FailedAnnouncementIsRetriedWithoutSendingAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.events.err = errors.New("publish not confirmed")
	if _, err := f.uc.SendAndAnnounce(ctx, voucher); err == nil {
		t.Fatal("a failed publish was not an error")
	}
	f.events.err = nil
	if _, err := f.uc.SendAndAnnounce(ctx, voucher); err != nil {
		t.Fatal(err)
	}
	if len(f.mailer.sent) != 1 || len(f.events.published) != 1 {
		t.Errorf("sent %d, published %d; want 1, 1", len(f.mailer.sent), len(f.events.published))
	}
}

func TestSend_FailedSendIsRecordedAndRetriedLater(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.mailer.err = errors.New("dial tcp: connection refused")
	if _, err := f.uc.Send(ctx, voucher); !errors.Is(err, f.mailer.err) || domain.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	rec, _ := f.store.Get(ctx, "b-1")
	if rec.Sent() || rec.Attempts != 1 {
		t.Fatalf("record after the failure: %+v", rec)
	}
	f.mailer.err = nil
	if _, err := f.uc.Send(ctx, voucher); err != nil {
		t.Fatal(err)
	}
	rec, _ = f.store.Get(ctx, "b-1")
	if !rec.Sent() || rec.Attempts != 2 || len(f.mailer.sent) != 1 || len(f.events.published) != 0 {
		t.Fatalf("record %+v, sent %d, published %d", rec, len(f.mailer.sent), len(f.events.published))
	}
}

func TestSend_InvalidAddressIsPermanentAndTouchesNothing(t *testing.T) {
	f := newFixture(t)
	bad := voucher
	bad.GuestEmail = "not-an-address"
	if _, err := f.uc.Send(context.Background(), bad); !errors.Is(err, domain.ErrInvalidRecipient) {
		t.Fatalf("err = %v", err)
	}
	if f.vouchers.fetches != 0 || len(f.store.rows) != 0 {
		t.Error("an invalid address fetched a voucher or wrote a record")
	}
}
