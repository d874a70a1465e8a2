package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/osirisplane/osiris/gateway/internal/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type whoArgs struct {
	Tag string `json:"tag"`
}

// upstreamServer is a real SDK server over streamable HTTP with tools that show which upstream
// session served a call, and that fail with a JSON-RPC error.
func upstreamServer(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, &mcp.ServerOptions{Instructions: "be nice"})
	mcp.AddTool(s, &mcp.Tool{Name: "who"}, func(_ context.Context, req *mcp.CallToolRequest, a whoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Tag + "@" + req.Session.ID()}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "fail"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, &jsonrpc.Error{Code: -32042, Message: "upstream says no", Data: []byte(`{"why":"test"}`)}
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

func gateway(t *testing.T, upstreamURL string) (*Proxy, string) {
	t.Helper()
	return gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("up", upstreamURL)}})
}

func httpUpstream(name, url string) Upstream {
	return Upstream{Name: name, Config: func() upstream.Config { return upstream.Config{HTTP: &upstream.HTTP{URL: url}} }}
}

// gatewayFor serves a proxy with cfg over streamable HTTP, as the gateway does.
func gatewayFor(t *testing.T, cfg Config) (*Proxy, string) {
	t.Helper()
	cfg.Logger, cfg.Version = slog.New(slog.NewTextHandler(io.Discard, nil)), "test"
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return p.Server() }, nil)))
	t.Cleanup(srv.Close)
	// Runs first: agents have closed, so every upstream session must end before the servers
	// go; then the shared ones close.
	t.Cleanup(func() {
		waitFor(t, func() bool { return p.Sessions() == 0 })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return p, srv.URL
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("content %v", res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func TestPassesThroughAndReportsUpstreamIdentity(t *testing.T) {
	_, url := gateway(t, upstreamServer(t))
	cs := connect(t, url)
	defer cs.Close()
	init := cs.InitializeResult()
	if init.ServerInfo.Name != "upstream" || init.Instructions != "be nice" || init.Capabilities.Tools == nil {
		t.Fatalf("initialize did not report the upstream: %+v", init)
	}
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools/list = %v, %v", tools, err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "who", Arguments: map[string]any{"tag": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, res); len(got) < 3 || got[:2] != "x@" {
		t.Fatalf("result %q", got)
	}
}

func TestUpstreamErrorsPassUnchanged(t *testing.T) {
	_, url := gateway(t, upstreamServer(t))
	cs := connect(t, url)
	defer cs.Close()
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "fail"})
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) || rpc.Code != -32042 || rpc.Message != "upstream says no" {
		t.Fatalf("error = %v, want the upstream's code -32042 and message", err)
	}
}

// Every agent gets its own upstream session, and calls never cross: 8 agents call
// concurrently, and each sees one upstream session, distinct from every other agent's.
func TestEachAgentHasItsOwnUpstreamSession(t *testing.T) {
	p, url := gateway(t, upstreamServer(t))
	const agents, calls = 8, 25
	upstreamOf := make([]string, agents)
	var wg sync.WaitGroup
	for a := range agents {
		cs := connect(t, url) // here: t.Fatal must not be called off the test's goroutine
		wg.Go(func() {
			defer cs.Close()
			for i := range calls {
				tag := fmt.Sprintf("a%d-%d", a, i)
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "who", Arguments: map[string]any{"tag": tag}})
				if err != nil {
					t.Errorf("agent %d: %v", a, err)
					return
				}
				got := text(t, res)
				gotTag, session := got[:len(tag)], got[len(tag)+1:]
				if gotTag != tag {
					t.Errorf("agent %d got the reply to %q", a, gotTag)
				}
				if upstreamOf[a] == "" {
					upstreamOf[a] = session
				} else if upstreamOf[a] != session {
					t.Errorf("agent %d moved from upstream session %s to %s", a, upstreamOf[a], session)
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for a, s := range upstreamOf {
		if prev, dup := seen[s]; dup {
			t.Errorf("agents %d and %d share upstream session %s", prev, a, s)
		}
		seen[s] = a
	}
	waitFor(t, func() bool { return p.Sessions() == 0 }) // closing an agent closes its upstream session
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not met")
}
