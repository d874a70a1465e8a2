package audit_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/loadtest"
)

var (
	benchFor     = flag.Duration("bench.duration", 2*time.Second, "how long each round of a ratio benchmark drives one operation")
	benchRounds  = flag.Int("bench.rounds", 3, "rounds per operation; the median round is reported")
	benchClients = flag.Int("bench.clients", 64, "concurrent clients")
)

// BenchmarkAppendVsNoop drives, on one audit server in one run, a no-op unary RPC (the gRPC
// health check) and a synced Append with the same number of concurrent clients, alternating
// rounds, and reports both rates and their ratio. Target: append/noop >= 0.5.
func BenchmarkAppendVsNoop(b *testing.B) {
	r := start(b, testConfig(b.TempDir()))
	health := healthpb.NewHealthClient(r.conn)
	noop := func(ctx context.Context, _, _ int) error {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	// Each client builds its event once and changes only the correlation id, as the gateway
	// does per call; building a Struct per call would bill client work to the server here.
	events := make([]*auditv1.Event, *benchClients)
	for w := range events {
		events[w] = event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, fmt.Sprintf("session-%d", w), "", "discovery_request",
			map[string]any{"connection": "@mysql.main", "component": "mysql.extractor", "samples": 10, "password": "hunter2"})
	}
	appendOp := func(ctx context.Context, w, i int) error {
		e := events[w]
		e.CorrelationId = fmt.Sprintf("corr-%d-%d", w, i)
		_, err := r.client.Append(ctx, &auditv1.AppendRequest{Event: e})
		return err
	}
	var noops, appends []loadtest.Result
	for range *benchRounds {
		noops = append(noops, loadtest.Run(context.Background(), *benchClients, *benchFor, noop))
		appends = append(appends, loadtest.Run(context.Background(), *benchClients, *benchFor, appendOp))
	}
	n, a := loadtest.Median(noops), loadtest.Median(appends)
	if n.Errors+a.Errors > 0 {
		b.Fatalf("errors: noop %d (%v), append %d (%v)", n.Errors, n.FirstErr, a.Errors, a.FirstErr)
	}
	b.ReportMetric(n.PerSecond(), "noop/s")
	b.ReportMetric(a.PerSecond(), "append/s")
	b.ReportMetric(a.PerSecond()/n.PerSecond(), "append/noop")
	b.ReportMetric(float64(a.P50.Microseconds())/1000, "append-p50-ms")
	b.ReportMetric(float64(a.P99.Microseconds())/1000, "append-p99-ms")
	b.ReportMetric(0, "ns/op") // the rates above are the result; ns/op of one call to this function is not
}
