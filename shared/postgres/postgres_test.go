package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"
)

// A span per SQL statement only when TRACE_SQL_STATEMENTS asks for it.
func TestOpen_StatementSpansOnlyWhenAsked(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	dbURL := testkit.Database(t)

	statements := func() int {
		t.Helper()
		pool, err := postgres.Open(testkit.Context(t), postgres.Config{URL: dbURL, MaxConns: 1, ConnectTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		ctx, booking := tp.Tracer("test").Start(context.Background(), "process commands.BookRoom")
		defer booking.End()
		before := len(rec.Ended())
		if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		return len(rec.Ended()) - before
	}
	for _, c := range []struct {
		env  string
		want int
	}{{"", 0}, {"false", 0}, {"true", 1}, {"1", 1}} {
		t.Setenv("TRACE_SQL_STATEMENTS", c.env)
		if got := statements(); got != c.want {
			t.Errorf("TRACE_SQL_STATEMENTS=%q: %d statement spans, want %d", c.env, got, c.want)
		}
	}

	t.Setenv("TRACE_SQL_STATEMENTS", "sometimes")
	_, err := postgres.Open(testkit.Context(t), postgres.Config{URL: dbURL, ConnectTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "TRACE_SQL_STATEMENTS") {
		t.Fatalf("TRACE_SQL_STATEMENTS=sometimes: err %v, want one naming the variable", err)
	}
}
