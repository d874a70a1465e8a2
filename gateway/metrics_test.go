package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestMCPSemanticConventionMetrics(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	g := startGateway(t, up, a.svc.GRPCAddr(), false)
	cs := agent(t, g.URL())
	for range 3 {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}
	cs.Close()
	want := []string{
		`mcp_server_operation_duration_seconds_count{gen_ai_tool_name="echo",mcp_method_name="tools/call",mcp_protocol_version="2025-11-25",network_transport="tcp"} 3`,
		`mcp_client_operation_duration_seconds_count{gen_ai_tool_name="echo",mcp_method_name="tools/call",mcp_protocol_version="2025-11-25",network_transport="tcp"} 3`,
		`mcp_server_operation_duration_seconds_count{mcp_method_name="initialize"`,
		`mcp_server_session_duration_seconds_count{mcp_protocol_version="2025-11-25",network_transport="tcp"} 1`,
	}
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(strings.TrimSuffix(g.URL(), "/mcp") + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, want[3]) { // the session ends asynchronously
			break
		}
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
