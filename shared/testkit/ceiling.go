package testkit

import (
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// ConfirmedPublishCeiling publishes n copies of msg to exchange (routing key
// key) over channels amqp091 channels in confirm mode, each with up to
// window confirmations outstanding (deferred, pipelined), and returns once
// every one is confirmed: the raw rate that benchmarks of Staybook's
// publishing compare themselves with.
func ConfirmedPublishCeiling(amqpURL, exchange, key string, msg amqp091.Publishing, n, channels, window int) error {
	conn, err := amqp091.Dial(amqpURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	errs := make(chan error, channels)
	for c := range channels {
		share := n / channels
		if c < n%channels {
			share++
		}
		go func() { errs <- pipelined(conn, exchange, key, msg, share, window) }()
	}
	var first error
	for range channels {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func pipelined(conn *amqp091.Connection, exchange, key string, msg amqp091.Publishing, n, window int) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return err
	}
	inFlight := make(chan *amqp091.DeferredConfirmation, window)
	errs := make(chan error, 1)
	go func() {
		var err error
		for dc := range inFlight {
			if !dc.Wait() && err == nil {
				err = fmt.Errorf("message %d not confirmed", dc.DeliveryTag)
			}
		}
		errs <- err
	}()
	for range n {
		dc, err := ch.PublishWithDeferredConfirm(exchange, key, false, false, msg)
		if err != nil {
			close(inFlight)
			<-errs
			return err
		}
		inFlight <- dc
	}
	close(inFlight)
	return <-errs
}
