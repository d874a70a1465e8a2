package gateway_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/gateway/internal/fanout"
	"github.com/osirisplane/osiris/services/telemetry"
)

type telemetrySvc struct {
	svc    *telemetry.Service
	cancel context.CancelFunc
	done   chan error
}

// startTelemetry serves the telemetry service on grpcAddr; dir "" means a new temp dir.
func startTelemetryIn(t testing.TB, dir, grpcAddr string) *telemetrySvc {
	t.Helper()
	cfg := telemetry.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = dir, grpcAddr, "127.0.0.1:0"
	svc, err := telemetry.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &telemetrySvc{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- svc.Run(ctx) }()
	t.Cleanup(s.stop)
	return s
}

func startTelemetry(t testing.TB, grpcAddr string) *telemetrySvc {
	return startTelemetryIn(t, t.TempDir(), grpcAddr)
}

func (s *telemetrySvc) stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// The telemetry service goes down under load and comes back on the same address: every call
// made meanwhile waits in the gateway's spool, and the totals end up exact.
func TestTelemetryDownUnderLoadThenBackCountsExactly(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	dir := t.TempDir()
	tel := startTelemetryIn(t, dir, "127.0.0.1:0")
	addr := tel.svc.GRPCAddr()
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.TelemetryAddr = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), addr
	g := run(t, cfg)

	const agents, each = 4, 30
	var calls, failures int
	var mu sync.Mutex
	load := func() {
		var wg sync.WaitGroup
		for range agents {
			cs := agent(t, g.URL()) // here: t.Fatal must not be called off the test's goroutine
			wg.Go(func() {
				defer cs.Close()
				for i := range each {
					fail := i%3 == 0
					if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"fail": fail}}); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					calls++
					if fail {
						failures++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	load()
	tel.stop() // down
	load()
	if g.TelemetryPending() == 0 {
		t.Fatal("nothing was spooled while the telemetry service was down")
	}
	startTelemetryIn(t, dir, addr) // back, same data, same address
	deadline := time.Now().Add(30 * time.Second)
	for g.TelemetryPending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d records still spooled 30 s after the service came back", g.TelemetryPending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sum, err := telemetryv1.NewTelemetryServiceClient(conn).GetSummary(context.Background(), &telemetryv1.GetSummaryRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.GetToolCalls() != uint64(calls) || sum.GetErrors() != uint64(failures) {
		t.Fatalf("telemetry counts %d calls, %d errors; the agents made %d calls, %d failed", sum.GetToolCalls(), sum.GetErrors(), calls, failures)
	}
}

// bytes_in is the length of the arguments' JSON and bytes_out that of the result's (before
// the gateway adds its _meta), as in the original; the audit log and telemetry agree.
func TestBytesInAndOutAreTheSameInAuditAndTelemetry(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	tel := startTelemetry(t, "127.0.0.1:0")
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.TelemetryAddr = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), tel.svc.GRPCAddr()
	g := run(t, cfg)
	cs := agent(t, g.URL())
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"tag": "twelve bytes"}})
	if err != nil {
		t.Fatal(err)
	}
	corr, _ := res.Meta[fanout.MetaKey].(string)
	delete(res.Meta, fanout.MetaKey)
	delete(res.Meta, fanout.ReceiptKey)
	if len(res.Meta) == 0 {
		res.Meta = nil
	}
	wantOut, _ := json.Marshal(res)
	wantIn := len(`{"tag":"twelve bytes"}`)

	events, err := a.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{CorrelationId: corr})
	if err != nil {
		t.Fatal(err)
	}
	var ended *auditv1.Event
	for _, e := range events.GetEvents() {
		if e.GetEventType() == auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED && e.GetBytesIn() != uint64(wantIn) {
			t.Errorf("audit bytes_in %d, want %d", e.GetBytesIn(), wantIn)
		}
		if e.GetEventType() == auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED {
			ended = e
		}
	}
	if ended == nil || ended.GetBytesOut() != uint64(len(wantOut)) {
		t.Fatalf("audit end event %v, want bytes_out %d (%s)", ended, len(wantOut), wantOut)
	}
	for g.TelemetryPending() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := grpc.NewClient(tel.svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	calls, err := telemetryv1.NewTelemetryServiceClient(conn).ListToolCalls(context.Background(), &telemetryv1.ListToolCallsRequest{CorrelationId: corr})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls.GetCalls()) != 1 || calls.GetCalls()[0].GetBytesOut() != uint64(len(wantOut)) || calls.GetCalls()[0].GetBytesIn() != uint64(wantIn) {
		t.Fatalf("telemetry records %v, want one with bytes_in %d, bytes_out %d", calls.GetCalls(), wantIn, len(wantOut))
	}
}
