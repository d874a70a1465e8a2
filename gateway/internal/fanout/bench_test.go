package fanout

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// discardAudit acknowledges every event at once and keeps none.
type discardAudit struct{ auditv1.AuditServiceClient }

func (discardAudit) AppendBatch(_ context.Context, req *auditv1.AppendBatchRequest, _ ...grpc.CallOption) (*auditv1.AppendBatchResponse, error) {
	return &auditv1.AppendBatchResponse{Receipts: make([]*auditv1.AppendResponse, len(req.GetEvents()))}, nil
}

// The fan-out's own cost per tools/call (audit against a service that answers at once,
// telemetry spooled, session, cache without a policy for the tool), around an upstream that
// answers a 2 KiB result at once.
func BenchmarkFanoutToolCall(b *testing.B) {
	a, err := NewAudit(discardAudit{}, false, metricnoop.NewMeterProvider().Meter(""), noop.NewTracerProvider().Tracer(""), quiet())
	if err != nil {
		b.Fatal(err)
	}
	spool, err := NewTelemetry(&fakeTelemetry{}, 1<<20, metricnoop.NewMeterProvider().Meter(""), quiet())
	if err != nil {
		b.Fatal(err)
	}
	sessions, err := NewSessions(newFakeSessions(), time.Hour, metricnoop.NewMeterProvider().Meter(""), quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer sessions.Close()
	sessions.Opened(context.Background(), "S", nil)
	cache := NewCache(newMemCache(), map[string]Policy{"other": {TTL: time.Hour}}, time.Minute, quiet())
	around := wire.Chain(a.Around, wire.Chain(spool.Around, wire.Chain(sessions.Around, cache.Around)))
	result, _ := json.Marshal(map[string]any{"content": []map[string]any{{"type": "text", "text": strings.Repeat("x", 2<<10)}}})
	forward := func(context.Context) (*wire.Reply, error) { return &wire.Reply{Result: result}, nil }
	const params = `{"name":"echo","arguments":{"message":"hello","n":1},"_meta":{"progressToken":1}}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := around(context.Background(), toolCall("S", params), forward); err != nil {
			b.Fatal(err)
		}
		if len(spool.spool) > 1<<19 {
			for len(spool.spool) > 0 {
				<-spool.spool
			}
		}
	}
}
