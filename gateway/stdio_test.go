package gateway_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/gateway"
)

// stdioChildEnv makes the test binary an MCP server on stdin/stdout (see init).
const stdioChildEnv = "OSIRIS_GATEWAY_TEST_STDIO_SERVER"

func init() {
	if os.Getenv(stdioChildEnv) == "" {
		return
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "child", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "pid"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(os.Getpid())}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "hang"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		<-ctx.Done()
		return nil, nil, ctx.Err()
	})
	s.Run(context.Background(), &mcp.StdioTransport{})
	os.Exit(0)
}

func stdioGateway(t *testing.T, maxSessions int) *gateway.Gateway {
	t.Helper()
	t.Setenv(stdioChildEnv, "1")
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.UpstreamsStdio, cfg.AuditAddr, cfg.MaxSessions = "127.0.0.1:0", []string{"child=" + os.Args[0]}, a.svc.GRPCAddr(), maxSessions
	return run(t, cfg)
}

func pid(t *testing.T, cs *mcp.ClientSession) int {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "pid", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("pid: %v", err)
	}
	n, _ := strconv.Atoi(res.Content[0].(*mcp.TextContent).Text)
	return n
}

func alive(p int) bool { return syscall.Kill(p, 0) == nil }

// The stdio child is killed in the middle of a call: that call fails cleanly (no hang), the
// gateway starts a new child, and the next call works, in the same agent session.
func TestStdioChildKilledMidCall(t *testing.T) {
	g := stdioGateway(t, 8)
	cs := agent(t, g.URL())
	first := pid(t, cs)
	failed := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "hang", Arguments: map[string]any{}})
		failed <- err
	}()
	time.Sleep(1100 * time.Millisecond) // past minUpstreamLife, with the call in flight
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("the call to a killed child succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call to a killed child hung")
	}
	var second int
	deadline := time.Now().Add(10 * time.Second)
	for second == 0 || second == first {
		if time.Now().After(deadline) {
			t.Fatal("no new child took over")
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "pid", Arguments: map[string]any{}})
		if err == nil {
			second, _ = strconv.Atoi(res.Content[0].(*mcp.TextContent).Text)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	cs.Close()
	// Closing the agent's session ends its child; none is left behind.
	for deadline := time.Now().Add(10 * time.Second); alive(second); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d still running after its session closed", second)
		}
	}
}

func TestSessionsAreBounded(t *testing.T) {
	g := stdioGateway(t, 2)
	a, b := agent(t, g.URL()), agent(t, g.URL())
	defer a.Close()
	defer b.Close()
	_, err := mcp.NewClient(&mcp.Implementation{Name: "third", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: g.URL()}, nil)
	if err == nil || !strings.Contains(err.Error(), "at most 2 sessions") {
		t.Fatalf("third session: %v, want the bound's error", err)
	}
}
