package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/gateway/internal/fanout"
	"github.com/osirisplane/osiris/services/audit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type echoArgs struct {
	Fail bool   `json:"fail,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

// upstream counts the calls it serves and echoes the correlation id it was sent.
func upstream(t testing.TB) (string, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	s := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		calls.Add(1)
		corr, _ := req.Params.Meta[fanout.MetaKey].(string)
		content := []mcp.Content{&mcp.TextContent{Text: corr}}
		if a.Tag != "" {
			content = append(content, &mcp.TextContent{Text: a.Tag})
		}
		return &mcp.CallToolResult{IsError: a.Fail, Content: content}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

type auditSvc struct {
	svc    *audit.Service
	cancel context.CancelFunc
	done   chan error
	client auditv1.AuditServiceClient
}

func startAudit(t testing.TB) *auditSvc {
	t.Helper()
	cfg := audit.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := audit.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &auditSvc{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- svc.Run(ctx) }()
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); a.stop() })
	a.client = auditv1.NewAuditServiceClient(conn)
	return a
}

func (a *auditSvc) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

func startGateway(t *testing.T, upstreamURL, auditAddr string, failOpen bool) *gateway.Gateway {
	t.Helper()
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.AuditFailOpen = "127.0.0.1:0", []string{"up=" + upstreamURL}, auditAddr, failOpen
	return run(t, cfg)
}

func run(t testing.TB, cfg gateway.Config) *gateway.Gateway {
	t.Helper()
	if cfg.TelemetryAddr == gateway.DefaultConfig().TelemetryAddr {
		cfg.TelemetryAddr = startTelemetry(t, "127.0.0.1:0").svc.GRPCAddr()
	}
	if cfg.CacheAddr == gateway.DefaultConfig().CacheAddr {
		cfg.CacheAddr = startCache(t)
	}
	if cfg.SessionAddr == gateway.DefaultConfig().SessionAddr {
		cfg.SessionAddr = startSession(t)
	}
	resolved, err := cfg.Complete()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(resolved, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	return g
}

func agent(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Every tool call is audited exactly twice (start and end) under its own MCP session, with one
// correlation id that the upstream received and the agent got back in _meta; 32 sessions make
// 200 calls each concurrently, and no reply ever reaches the wrong session.
func TestEveryCallAuditedTwiceUnderItsSession(t *testing.T) {
	up, calls := upstream(t)
	a := startAudit(t)
	g := startGateway(t, up, a.svc.GRPCAddr(), false)
	const agents, each = 32, 200
	sessionOf := map[string]string{} // correlation id -> MCP session id
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range agents {
		cs := agent(t, g.URL()) // here: t.Fatal must not be called off the test's goroutine
		wg.Go(func() {
			defer cs.Close()
			for i := range each {
				tag := fmt.Sprintf("%s/%d", cs.ID(), i)
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: echoArgs{Fail: i%5 == 0, Tag: tag}})
				if err != nil {
					t.Error(err)
					return
				}
				corr, _ := res.Meta[fanout.MetaKey].(string)
				if echoed := res.Content[0].(*mcp.TextContent).Text; corr == "" || echoed != corr {
					t.Errorf("reply _meta correlation %q, upstream received %q", corr, echoed)
					return
				}
				if got := res.Content[1].(*mcp.TextContent).Text; got != tag {
					t.Errorf("session %s got the reply to %s", cs.ID(), got)
					return
				}
				mu.Lock()
				sessionOf[corr] = cs.ID()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if calls.Load() != agents*each || len(sessionOf) != agents*each {
		t.Fatalf("upstream served %d calls, %d distinct correlation ids; want %d", calls.Load(), len(sessionOf), agents*each)
	}
	// Read the whole log once and check every call against it.
	seen := map[string][]*auditv1.Event{}
	req := &auditv1.ListEventsRequest{PageSize: 1000}
	for {
		resp, err := a.client.ListEvents(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEvents() {
			seen[e.GetCorrelationId()] = append(seen[e.GetCorrelationId()], e)
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	for corr, session := range sessionOf {
		ev := seen[corr]
		if len(ev) != 2 || ev[0].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED ||
			(ev[1].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED && ev[1].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED) {
			t.Fatalf("call %s: %d events %v", corr, len(ev), ev)
		}
		for _, e := range ev {
			if e.GetSessionId() != session || e.GetTool() != "echo" {
				t.Fatalf("call %s of session %s audited as %v", corr, session, e)
			}
		}
	}
	v, err := a.client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil || !v.GetOk() || v.GetChecked() != 2*agents*each {
		t.Fatalf("chain: %v %v", v, err)
	}
}

// Fail-closed: with the audit service down, no call reaches the upstream and the agent is told
// why. Fail-open: calls go through and the gaps are counted.
func TestAuditDown(t *testing.T) {
	for _, failOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("failOpen=%v", failOpen), func(t *testing.T) {
			up, calls := upstream(t)
			a := startAudit(t)
			g := startGateway(t, up, a.svc.GRPCAddr(), failOpen)
			cs := agent(t, g.URL())
			defer cs.Close()
			a.stop()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}})
			if !failOpen {
				var rpc *jsonrpc.Error
				if !errors.As(err, &rpc) || rpc.Code != fanout.CodeAuditUnavailable || !strings.Contains(rpc.Message, "fails closed") {
					t.Fatalf("call with audit down: %v, want the fail-closed error", err)
				}
				if calls.Load() != 0 {
					t.Fatalf("upstream served %d calls with audit down", calls.Load())
				}
				return
			}
			if err != nil || calls.Load() != 1 {
				t.Fatalf("fail-open call: %v, upstream calls %d", err, calls.Load())
			}
			resp, err := http.Get(strings.TrimSuffix(g.URL(), "/mcp") + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "osiris_gateway_audit_gaps_total 2") {
				t.Fatalf("gaps not counted:\n%s", body)
			}
		})
	}
}
