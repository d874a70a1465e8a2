package telemetry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry"
)

// STATE-007: the original's component registry was a process-wide singleton created lazily
// without a lock, so two callers starting at once raced on its session context and one of
// them silently got the other's. Here nothing is a singleton: each service instance owns its
// store, its meter provider and its Prometheus registry. Two telemetry services are created
// at the same moment in one process, then written to concurrently; each must show exactly
// its own calls, in GetSummary and on its own /metrics, and none of the other's. A global
// meter provider, registry or store would make one of them count the other's calls.
func TestSTATE007TwoInstancesInOneProcessShareNothing(t *testing.T) {
	const each = 2000
	names := []string{"left", "right"}
	svcs := make([]*telemetry.Service, len(names))
	errs := make([]error, len(names))
	var created sync.WaitGroup
	for i := range names {
		created.Go(func() { svcs[i], errs[i] = telemetry.New(testConfig(t.TempDir()), quietLog()) })
	}
	created.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start %s: %v", names[i], err)
		}
	}

	clients := make([]telemetryv1.TelemetryServiceClient, len(names))
	for i, svc := range svcs {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s stopped with error: %v", names[i], err)
			}
		})
		clients[i] = telemetryv1.NewTelemetryServiceClient(conn)
		waitReady(t, "http://"+svc.HTTPAddr()+"/readyz")
	}

	// Both instances are written at once, each with its own tool names and sessions.
	var wg sync.WaitGroup
	for i, name := range names {
		for w := range 8 {
			wg.Go(func() {
				for n := w; n < each; n += 8 {
					call := okCall(fmt.Sprintf("%s-session-%d", name, n%4), name+"_tool", 1)
					call.CorrelationId = fmt.Sprintf("%s-%d", name, n)
					if _, err := clients[i].RecordToolCall(context.Background(), &telemetryv1.RecordToolCallRequest{Call: call}); err != nil {
						t.Errorf("%s call %d: %v", name, n, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for i, name := range names {
		s := mustSummary(t, clients[i], &telemetryv1.GetSummaryRequest{})
		if s.GetToolCalls() != each || len(s.GetTools()) != 1 || s.GetTools()[0].GetTool() != name+"_tool" {
			t.Errorf("%s: summary has %d calls over tools %v, want exactly %d of %s_tool", name, s.GetToolCalls(), s.GetTools(), each, name)
		}
		calls := byTool(t, scrape(t, svcs[i]), "osiris_tool_calls_total")
		if len(calls) != 1 || calls[name+"_tool"] != each {
			t.Errorf("%s: /metrics counts %v, want only %s_tool=%d", name, calls, name, each)
		}
	}
}
