package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/staybook/staybook/shared/testkit"
)

// The reason the outbox does not read with watermill-sql's subscriber, kept
// as a test so that an upgrade that fixes it shows (the test then fails, and
// the forwarder could go back to Watermill's). The reproduction for an
// upstream report is docs/upstream/watermill-sql-ack-deadline.md.
//
// watermill-sql v4.1.2, PostgreSQL queue schema with DeleteOnAck: a consumer
// acks the first message of a batch, then its downstream fails (it nacks)
// for longer than AckDeadline. Every row of the batch is deleted, although
// only one message was acked.
func TestWatermillSQL_AckDeadlineMidBatchDeletesRowsThatWereNeverAcked(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	db := wsql.BeginnerFromPgx(pool)
	const topic = "ackdeadline_repro"
	schema := wsql.PostgreSQLQueueSchema{}
	pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema, AutoInitializeSchema: true}, watermill.NopLogger{})
	testkit.Must(t, err)
	for i := range 5 {
		testkit.Must(t, pub.Publish(topic, message.NewMessage(fmt.Sprint("m", i), []byte(`{}`))))
	}
	deadline := 500 * time.Millisecond
	sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{
		SchemaAdapter:  schema,
		OffsetsAdapter: wsql.PostgreSQLQueueOffsetsAdapter{DeleteOnAck: true},
		AckDeadline:    &deadline,
		ResendInterval: 50 * time.Millisecond,
		PollInterval:   50 * time.Millisecond,
	}, watermill.NopLogger{})
	testkit.Must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	testkit.Must(t, err)

	count := func() int {
		var n int
		testkit.Must(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM "watermill_`+topic+`"`).Scan(&n))
		return n
	}
	(<-msgs).Ack()
	// Nack (the broker is down) until the rows are gone, or for 20 times
	// the ack deadline if they stay (the flaw fixed).
	giveUp := time.Now().Add(20 * deadline)
	for count() > 0 && time.Now().Before(giveUp) {
		select {
		case m := <-msgs:
			m.Nack()
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	testkit.Must(t, sub.Close())
	switch left := count(); left {
	case 0: // the flaw: 4 rows never acked were deleted with the acked one
	case 4:
		t.Fatal("watermill-sql kept the 4 rows never acked: the upstream flaw is fixed; see docs/upstream/watermill-sql-ack-deadline.md")
	default:
		t.Fatalf("%d rows left; watermill-sql v4.1.2 deletes all 5 (1 acked)", left)
	}
}
