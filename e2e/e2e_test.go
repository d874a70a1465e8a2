// Package e2e runs the whole stack as `osiris up` does, on its default ports, with the SDK's
// everything-server behind the gateway, and checks from the outside, as a user would with an
// MCP client, curl and grpcurl, that what happened is exactly what the state plane shows.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/internal/stack"
)

func get(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
}

func TestWholeStackFromTheOutside(t *testing.T) {
	everything, err := filepath.Abs("../.tools/everything-server")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(everything); err != nil {
		t.Fatalf("%s missing: run make tools", everything)
	}
	dir := t.TempDir()
	var out bytes.Buffer
	stop := up(t, dir, everything, &out)
	defer func() { stop() }()

	// An agent: three tool calls, one resource read, then it leaves.
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: "http://127.0.0.1:8100/mcp"}, nil)
	if err != nil {
		t.Fatalf("MCP client through the gateway: %v", err)
	}
	sid := cs.ID()
	var corr []string
	for range 3 {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_simple_text", Arguments: map[string]any{}})
		if err != nil || res.IsError {
			t.Fatalf("tools/call: %v %v", res, err)
		}
		c, _ := res.Meta["correlation_id"].(string)
		corr = append(corr, c)
	}
	failed, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_error_handling", Arguments: map[string]any{}})
	if err != nil || !failed.IsError {
		t.Fatalf("the failing tool: %v %v", failed, err)
	}
	if _, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "test://static-text"}); err != nil {
		t.Fatalf("resources/read: %v", err)
	}
	cs.Close()

	// REST, as curl would: the audit trail of exactly this session.
	var events struct {
		Events []struct {
			EventType     string `json:"eventType"`
			CorrelationID string `json:"correlationId"`
			Tool          string `json:"tool"`
		} `json:"events"`
	}
	get(t, "http://127.0.0.1:8101/v1/audit/events?sessionId="+sid, &events)
	count := map[string]int{}
	for _, e := range events.Events {
		count[e.EventType]++
	}
	if count["EVENT_TYPE_TOOL_CALL_STARTED"] != 4 || count["EVENT_TYPE_TOOL_CALL_COMPLETED"] != 3 ||
		count["EVENT_TYPE_TOOL_CALL_FAILED"] != 1 || count["EVENT_TYPE_RESOURCE_ACCESS"] != 1 {
		t.Fatalf("audit trail of the session: %v", count)
	}
	for _, c := range corr {
		var one struct{ Events []any }
		get(t, "http://127.0.0.1:8101/v1/audit/events?correlationId="+c, &one)
		if len(one.Events) != 2 {
			t.Fatalf("correlation id %s from the reply's _meta: %d events, want 2", c, len(one.Events))
		}
	}
	var verify struct{ Ok bool }
	get(t, "http://127.0.0.1:8101/v1/audit/chain:verify", &verify)
	if !verify.Ok {
		t.Fatal("audit chain does not verify")
	}
	// Telemetry, session (closed once the agent left) and cache, over REST.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var sum struct {
			ToolCalls string `json:"toolCalls"`
			Errors    string `json:"errors"`
		}
		get(t, "http://127.0.0.1:8102/v1/telemetry/summary?sessionId="+sid, &sum)
		if sum.ToolCalls == "4" && sum.Errors == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("telemetry counts %s calls, %s errors for the session; want 4 and 1", sum.ToolCalls, sum.Errors)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var s struct {
			Labels   map[string]string `json:"labels"`
			ClosedAt *string           `json:"closedAt"`
		}
		get(t, "http://127.0.0.1:8103/v1/sessions/"+sid, &s)
		if s.Labels["client"] != "e2e-agent" {
			t.Fatalf("session labels %v", s.Labels)
		}
		if s.ClosedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session was not closed after the agent left")
		}
	}
	get(t, "http://127.0.0.1:8104/v1/cache/stats", nil)

	// gRPC, as grpcurl would: reflection lists each service, and a call answers.
	for addr, svc := range map[string]string{
		"127.0.0.1:7101": "osiris.audit.v1.AuditService", "127.0.0.1:7102": "osiris.telemetry.v1.TelemetryService",
		"127.0.0.1:7103": "osiris.session.v1.SessionService", "127.0.0.1:7104": "osiris.cache.v1.CacheService",
	} {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		names := reflected(t, conn)
		if !strings.Contains(names, svc) || !strings.Contains(names, "grpc.health.v1.Health") {
			t.Errorf("%s reflects %s; want %s and health", addr, names, svc)
		}
		if svc == "osiris.audit.v1.AuditService" {
			v, err := auditv1.NewAuditServiceClient(conn).VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
			if err != nil || !v.GetOk() || v.GetChecked() < 10 {
				t.Errorf("VerifyChain over gRPC: %v %v", v, err)
			}
		}
		conn.Close()
	}

	// Every /metrics parses as Prometheus text and carries the contract's instruments.
	want := map[string][]string{
		"8102": {"osiris_tool_calls_total", "osiris_tool_errors_total", "osiris_tool_duration_milliseconds", "osiris_tool_bytes_in_total", "osiris_tool_bytes_out_total"},
		"8100": {"mcp_server_operation_duration_seconds", "mcp_client_operation_duration_seconds", "mcp_server_session_duration_seconds"},
		"8101": {"osiris_audit_head_seq", "osiris_writer_queue_depth"},
		"8103": {"osiris_writer_queue_depth"},
		"8104": {"osiris_cache_entries"},
	}
	for port, names := range want {
		resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		// Legacy names: what every Prometheus server accepts.
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("/metrics on %s does not parse: %v", port, err)
		}
		for _, n := range names {
			if _, ok := families[n]; !ok {
				t.Errorf("/metrics on %s lacks %s", port, n)
			}
		}
	}
	if !strings.Contains(out.String(), "http://127.0.0.1:8100/mcp") {
		t.Errorf("osiris up did not say where to connect:\n%s", out.String())
	}

	// A second `osiris up` resumes on the same data: the log, its chain and the session.
	var head struct {
		Checked string `json:"checked"`
	}
	get(t, "http://127.0.0.1:8101/v1/audit/chain:verify", &head)
	stop()
	stop = up(t, dir, everything, io.Discard)
	var again struct {
		Ok      bool   `json:"ok"`
		Checked string `json:"checked"`
	}
	get(t, "http://127.0.0.1:8101/v1/audit/chain:verify", &again)
	if !again.Ok || again.Checked != head.Checked {
		t.Fatalf("after a restart the log verifies %v with %s events; before it had %s", again.Ok, again.Checked, head.Checked)
	}
	get(t, "http://127.0.0.1:8103/v1/sessions/"+sid, nil)
}

// up runs `osiris up` on dir until the returned stop is called (calling it again does nothing).
func up(t *testing.T, dir, everything string, out io.Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- stack.Up(ctx, stack.Config{DataDir: dir, UpstreamsStdio: []string{"everything=" + everything}},
			slog.New(slog.NewTextHandler(io.Discard, nil)), out)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("osiris up: %v", err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://127.0.0.1:8101/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop
			}
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatal("the stack did not become ready")
		}
	}
}

// reflected lists the services a server reflects, as grpcurl list does.
func reflected(t *testing.T, conn *grpc.ClientConn) string {
	t.Helper()
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return fmt.Sprint(names)
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
