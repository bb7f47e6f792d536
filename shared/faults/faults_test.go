package faults

import (
	"context"
	"errors"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/contracts"
	"github.com/staybook/staybook/shared/messaging"
)

func call(t *testing.T, i *Injector, handler string) (err error, panicked bool) {
	t.Helper()
	i.handlerName = func(ctx context.Context) string { return ctx.Value(handlerKey{}).(string) }
	msg := message.NewMessage("m", nil)
	msg.SetContext(context.WithValue(context.Background(), handlerKey{}, handler))
	h := i.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	_, err = h(msg)
	return err, false
}

type handlerKey struct{}

func TestInjector_ModesAndScope(t *testing.T) {
	i := New("voucher", nil)
	i.Apply(contracts.FaultChanged{Service: "email", FailRate: 1, Mode: contracts.FaultTransient}) // another service
	if err, _ := call(t, i, "create_voucher"); err != nil {
		t.Fatalf("fault for another service applied: %v", err)
	}
	i.Apply(contracts.FaultChanged{Service: "voucher", Handler: "create_voucher", FailRate: 1, Mode: contracts.FaultTransient})
	err, _ := call(t, i, "create_voucher#2")
	if !errors.Is(err, ErrInjected) || messaging.IsPermanent(err) {
		t.Fatalf("transient: %v", err)
	}
	if err, _ := call(t, i, "other_handler"); err != nil {
		t.Fatalf("fault for one handler hit another: %v", err)
	}
	i.Apply(contracts.FaultChanged{Service: "voucher", FailRate: 1, Mode: contracts.FaultPermanent})
	if err, _ := call(t, i, "other_handler"); !messaging.IsPermanent(err) {
		t.Fatalf("permanent: %v", err)
	}
	i.Apply(contracts.FaultChanged{Service: "voucher", Handler: "create_voucher", FailRate: 1, Mode: contracts.FaultPanic})
	if _, panicked := call(t, i, "create_voucher"); !panicked {
		t.Fatal("no panic")
	}
	if err, panicked := call(t, i, ControlHandler); err != nil || panicked {
		t.Fatalf("the control handler itself failed: %v %v", err, panicked)
	}
	i.Apply(contracts.FaultChanged{Service: "voucher", Clear: true})
	if err, _ := call(t, i, "create_voucher"); err != nil || len(i.Active()) != 0 {
		t.Fatalf("cleared: %v %v", err, i.Active())
	}
}

func TestInjector_RateIsHonoured(t *testing.T) {
	i := New("voucher", nil)
	i.Apply(contracts.FaultChanged{Service: "voucher", FailRate: 0.3, Mode: contracts.FaultTransient})
	failed := 0
	for range 10000 {
		if err, _ := call(t, i, "h"); err != nil {
			failed++
		}
	}
	if failed < 2700 || failed > 3300 {
		t.Fatalf("%d of 10000 failed at rate 0.3", failed)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("FAULT_RATE", "0.5")
	t.Setenv("FAULT_MODE", "permanent")
	t.Setenv("FAULT_HANDLER", "send_confirmation_email")
	i, err := FromEnv("email", nil)
	if err != nil || len(i.Active()) != 1 || i.Active()[0].Mode != "permanent" {
		t.Fatalf("%v %v", err, i.Active())
	}
	t.Setenv("FAULT_MODE", "explode")
	if _, err := FromEnv("email", nil); err == nil {
		t.Fatal("bad mode accepted")
	}
}
