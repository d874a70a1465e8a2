package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestBuiltinToolsShowOnlyTheCallersSession(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	g := startGateway(t, up, a.svc.GRPCAddr(), false)
	mine, other := agent(t, g.URL()), agent(t, g.URL())
	defer mine.Close()
	defer other.Close()
	ctx := context.Background()
	for range 3 {
		mine.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})
	}
	other.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})

	tools, err := mine.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "osiris_audit_trail") || !strings.Contains(strings.Join(names, ","), "osiris_telemetry_summary") {
		t.Fatalf("tools/list: %v", names)
	}

	res, err := mine.CallTool(ctx, &mcp.CallToolParams{Name: "osiris_audit_trail", Arguments: map[string]any{"limit": 4}})
	if err != nil || res.IsError {
		t.Fatalf("audit trail: %v %v", res, err)
	}
	var trail struct {
		Events []struct {
			SessionID string `json:"session_id"`
			Tool      string `json:"tool"`
		} `json:"events"`
	}
	json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &trail)
	if len(trail.Events) != 4 {
		t.Fatalf("trail has %d events, want the last 4", len(trail.Events))
	}
	for _, e := range trail.Events {
		if e.SessionID != mine.ID() {
			t.Fatalf("trail shows session %q, caller is %q", e.SessionID, mine.ID())
		}
	}

	// Once every record has reached the telemetry service, this session has made exactly 4
	// calls (3 echoes and the trail); the other session's call must not count.
	for deadline := time.Now().Add(10 * time.Second); g.TelemetryPending() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("telemetry spool never drained")
		}
	}
	res, err = mine.CallTool(ctx, &mcp.CallToolParams{Name: "osiris_telemetry_summary", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("summary: %v %v", res, err)
	}
	var sum struct {
		ToolCalls string `json:"tool_calls"`
	}
	json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &sum)
	if sum.ToolCalls != "4" {
		t.Fatalf("summary counts %q calls for this session, want 4", sum.ToolCalls)
	}

	bad, err := mine.CallTool(ctx, &mcp.CallToolParams{Name: "osiris_audit_trail", Arguments: map[string]any{"limit": 1000}})
	if err != nil || !bad.IsError {
		t.Fatalf("limit over the bound: %v %v, want a tool error", bad, err)
	}
}
