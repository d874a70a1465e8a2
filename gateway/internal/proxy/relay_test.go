package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sdkUpstream serves s over streamable HTTP.
func sdkUpstream(t *testing.T, s *mcp.Server) string {
	t.Helper()
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An upstream that asks for the agent's roots as soon as it is initialized (as
// server-filesystem does, to narrow itself to them) gets the agent's roots. Issue 12, defect 2.
func TestUpstreamGetsTheAgentsRootsAtSessionStart(t *testing.T) {
	roots := make(chan []*mcp.Root, 1)
	s := mcp.NewServer(&mcp.Implementation{Name: "fs", Version: "1"}, &mcp.ServerOptions{
		InitializedHandler: func(ctx context.Context, req *mcp.InitializedRequest) {
			go func() {
				res, err := req.Session.ListRoots(context.Background(), nil)
				if err != nil {
					t.Errorf("roots/list from the upstream failed: %v", err)
					roots <- nil
					return
				}
				roots <- res.Roots
			}()
		},
	})
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("fs", sdkUpstream(t, s))}})
	agent := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	agent.AddRoots(&mcp.Root{URI: "file:///only/here", Name: "here"})
	cs, err := agent.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	select {
	case got := <-roots:
		if len(got) != 1 || got[0].URI != "file:///only/here" {
			t.Fatalf("the upstream got roots %v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream's roots/list never reached the agent")
	}
}

// What an HTTP upstream sends outside any call (on its own GET stream) reaches the agent: a
// log line, and a request the agent answers. Issue 12, defect 3.
func TestOutOfCallMessagesFromAnHTTPUpstreamReachTheAgent(t *testing.T) {
	answered := make(chan []*mcp.Root, 1)
	s := mcp.NewServer(&mcp.Implementation{Name: "later", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "later"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		ss := req.Session
		go func() {
			time.Sleep(50 * time.Millisecond) // after the call has returned
			ss.Log(context.Background(), &mcp.LoggingMessageParams{Level: "info", Data: "after the call"})
			res, err := ss.ListRoots(context.Background(), nil)
			if err != nil {
				t.Errorf("out-of-call roots/list: %v", err)
				answered <- nil
				return
			}
			answered <- res.Roots
		}()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("later", sdkUpstream(t, s))}})
	logs := make(chan string, 4)
	agent := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			logs <- req.Params.Data.(string)
		},
	})
	agent.AddRoots(&mcp.Root{URI: "file:///r"})
	cs, err := agent.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := cs.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "later"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-logs:
		if got != "after the call" {
			t.Fatalf("log %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the out-of-call log line never reached the agent")
	}
	select {
	case got := <-answered:
		if len(got) != 1 || got[0].URI != "file:///r" {
			t.Fatalf("roots %v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the out-of-call request was never answered")
	}
}
