package postgres_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/staybook/staybook/shared/postgres"
	"github.com/staybook/staybook/shared/testkit"
)

// BenchmarkStatementTracing measures what a span per SQL statement costs
// the service: one statement (a round trip to PostgreSQL) inside a sampled
// booking's span, untraced against traced by otelpgx with the spans
// exported over OTLP/HTTP in batches (to a local collector that reads and
// drops them, so the encoding is paid as in production). cpu-µs/op is this
// process's CPU (user + system, from getrusage) per statement: the
// service's own cost, without PostgreSQL's. Reproduce:
//
//	go test ./shared/postgres -run '^$' -bench StatementTracing -benchtime 20000x -count 3
func BenchmarkStatementTracing(b *testing.B) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	exporter, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(collector.URL+"/v1/traces"))
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())), sdktrace.WithBatcher(exporter))
	defer tp.Shutdown(context.Background())
	dbURL := testkit.Database(b)
	b.Setenv("TRACE_SQL_STATEMENTS", "false")

	for _, c := range []struct {
		name   string
		tracer *otelpgx.Tracer
	}{
		{"untraced", nil},
		{"span-per-statement", otelpgx.NewTracer(otelpgx.WithDisableAcquireTracer(), otelpgx.WithTracerProvider(tp))},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := postgres.Config{URL: dbURL, MaxConns: 1, ConnectTimeout: 10 * time.Second}
			if c.tracer != nil {
				cfg.Tracer = c.tracer
			}
			pool, err := postgres.Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			ctx, booking := tp.Tracer("bench").Start(context.Background(), "process commands.BookRoom", trace.WithSpanKind(trace.SpanKindConsumer))
			defer booking.End()
			benchStatements(ctx, b, pool)
		})
	}
}

func benchStatements(ctx context.Context, b *testing.B, pool *pgxpool.Pool) {
	for i := 0; i < 100; i++ { // warm the connection and the statement cache
		if _, err := pool.Exec(ctx, "SELECT $1::int", i); err != nil {
			b.Fatal(err)
		}
	}
	before := testkit.ProcessCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := pool.Exec(ctx, "SELECT $1::int", i); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	testkit.ReportCPUPerOp(b, before)
}
