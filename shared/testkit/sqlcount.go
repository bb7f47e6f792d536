package testkit

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// SQLCounter is a pgx tracer (ConnConfig.Tracer) that counts what a pool
// sends to PostgreSQL: RoundTrips, each query and each batch (whose
// statements all travel together), and Statements, each query and each
// statement of a batch. Statements prepared by pgx itself are not counted.
type SQLCounter struct {
	RoundTrips, Statements atomic.Int64
}

func (c *SQLCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.RoundTrips.Add(1)
	c.Statements.Add(1)
	return ctx
}

func (c *SQLCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *SQLCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.RoundTrips.Add(1)
	return ctx
}

func (c *SQLCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.Statements.Add(1)
}

func (c *SQLCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
