package faults

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"

	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"

	"github.com/staybook/staybook/shared/messaging"
)

// ReplicaName names this process for per-replica queues: "<service>.<host>.<random>".
func ReplicaName(service string) string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return service + "." + host + "." + hex.EncodeToString(b)
}

// AddControlHandler makes this replica receive FaultChanged messages from the
// control fanout (through its own exclusive queue) and apply them.
func (i *Injector) AddControlHandler(r *messaging.Router, conn *amqp.ConnectionWrapper, topology messaging.Topology, log *slog.Logger) error {
	sub, err := messaging.NewReplicaSubscriber(conn, ReplicaName(i.service), messaging.SubscriberConfig{Topology: topology, Logger: log})
	if err != nil {
		return err
	}
	policy := messaging.DefaultRetryPolicy()
	policy.MaxAttempts = 1
	policy.OnExhausted = messaging.ExhaustedDiscard
	r.AddHandler(messaging.Handler{
		Name: ControlHandler, Topic: messaging.ControlExchange, Subscriber: sub, Policy: policy, Handle: i.Handle,
	})
	return nil
}
