package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway"
)

// An agent over stdio (--stdio) gets the same gateway as over HTTP: calls pass, each is
// audited under the generated stdio_ session id, and a call without arguments reaches the
// upstream without them.
func TestAgentOverStdioIsServedAndAudited(t *testing.T) {
	up, calls := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.Stdio, cfg.Upstreams, cfg.AuditAddr = true, []string{"up=" + up}, a.svc.GRPCAddr()
	cfg.TelemetryAddr = startTelemetry(t, "127.0.0.1:0").svc.GRPCAddr()
	cfg.CacheAddr, cfg.SessionAddr = startCache(t), startSession(t)
	resolved, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(resolved, quiet())
	if err != nil {
		t.Fatal(err)
	}
	serverSide, agentSide := mcp.NewInMemoryTransports()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, serverSide) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("gateway: %v", err)
		}
	}()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "stdio-agent", Version: "1"}, nil).Connect(ctx, agentSide, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo"})
	if err != nil || res.IsError {
		t.Fatalf("call over stdio: %v %+v", err, res)
	}
	if calls.Load() != 1 {
		t.Fatalf("upstream served %d calls", calls.Load())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, err := a.client.ListEvents(ctx, &auditv1.ListEventsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var stdio int
		for _, e := range events.GetEvents() {
			if strings.HasPrefix(e.GetSessionId(), "stdio_") && e.GetTool() == "echo" {
				stdio++
			}
		}
		if stdio == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tool call events under a stdio_ session, want 2: %v", stdio, events.GetEvents())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
