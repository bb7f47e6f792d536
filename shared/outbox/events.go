package outbox

import (
	"fmt"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
)

// Events collects the events of one transaction, to write them to the
// outbox in one INSERT. A Watermill cqrs.EventBus calls Publish once per
// event, and the SQL publisher writes each call with a statement (a round
// trip) of its own; publish through e.Publisher() instead, then Write the
// events, or Queue them in a pgx.Batch with the transaction's other
// statements, before committing.
//
// The rows are the ones Publisher writes: each event in components/
// forwarder's envelope (with its destination topic), in watermill-sql's
// PostgreSQL queue schema, so the Forwarder reads them the same way.
type Events struct {
	envelopes []*message.Message
}

// Publisher returns a publisher that adds the messages it is given to e,
// each in the forwarder's envelope. It writes nothing: Write or Queue does.
// (A tracing decorator around it ends its span once the event is added.)
func (e *Events) Publisher() message.Publisher {
	return forwarder.NewPublisher(collector{e}, forwarder.PublisherConfig{ForwarderTopic: Topic})
}

// Len is how many events e holds.
func (e *Events) Len() int { return len(e.envelopes) }

// Write inserts e's events into the outbox in tx, in one statement, through
// watermill-sql's publisher (nothing when there are none).
func (e *Events) Write(tx pgx.Tx) error {
	if len(e.envelopes) == 0 {
		return nil
	}
	return sqlPublisher(tx).Publish(Topic, e.envelopes...)
}

// Queue adds the INSERT of e's events to batch (nothing when there are
// none), so that they travel with the statements queued beside them: the
// query is the one watermill-sql's publisher would run.
func (e *Events) Queue(batch *pgx.Batch) error {
	if len(e.envelopes) == 0 {
		return nil
	}
	q, err := schema.InsertQuery(wsql.InsertQueryParams{Topic: Topic, Msgs: e.envelopes})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	batch.Queue(q.Query, q.Args...)
	return nil
}

// collector receives the forwarder publisher's envelopes for Events.
type collector struct{ e *Events }

func (c collector) Publish(_ string, msgs ...*message.Message) error {
	c.e.envelopes = append(c.e.envelopes, msgs...)
	return nil
}

func (collector) Close() error { return nil }
