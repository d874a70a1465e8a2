package gateway_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway"
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
