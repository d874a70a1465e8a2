package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// countingUpstream is an SDK server over HTTP that counts the sessions opened and closed on it.
type countingUpstream struct {
	url            string
	opened, closed atomic.Int64
}

func newCountingUpstream(t *testing.T, s *mcp.Server) *countingUpstream {
	t.Helper()
	c := &countingUpstream{}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete:
			c.closed.Add(1)
		case r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") == "":
			c.opened.Add(1) // an initialize
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func echoServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "who"}, func(_ context.Context, req *mcp.CallToolRequest, a whoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Tag + "@" + req.Session.ID()}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		_, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "asked"}}}, nil, nil
	})
	return s
}

// An upstream declared shared serves every agent from one session (one child, for a stdio
// server); the agents' calls work, and the server cannot ask any of them for sampling. Issue
// 12, Deliver 5.
func TestSharedUpstreamServesEveryAgentFromOneSession(t *testing.T) {
	up := newCountingUpstream(t, echoServer())
	u := httpUpstream("echo", up.url)
	u.Shared = true
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{u}})
	var sessions sync.Map
	for range 4 {
		cs := connect(t, url)
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "who", Arguments: map[string]any{"tag": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		sessions.Store(text(t, res), true)
		// The tool's CreateMessage fails, which the SDK server reports as an isError result.
		if res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ask"}); err == nil && !res.IsError {
			t.Error("a shared upstream's sampling request reached an agent")
		}
		cs.Close()
	}
	n := 0
	sessions.Range(func(any, any) bool { n++; return true })
	if n != 1 || up.opened.Load() != 1 {
		t.Fatalf("4 agents used %d upstream sessions (%d opened), want 1", n, up.opened.Load())
	}
}

// An agent's own upstream session unused for Idle is closed, and the agent's next request
// opens a new one that works. Issue 12, Deliver 5.
func TestIdleUpstreamSessionIsClosedAndReopened(t *testing.T) {
	up := newCountingUpstream(t, echoServer())
	u := httpUpstream("echo", up.url)
	u.Idle = 200 * time.Millisecond
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{u}})
	cs := connect(t, url)
	defer cs.Close()
	call := func() string {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "who", Arguments: map[string]any{"tag": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		return text(t, res)
	}
	first := call()
	waitFor(t, func() bool { return up.closed.Load() == 1 })
	second := call()
	if first == second || up.opened.Load() != 2 {
		t.Fatalf("after the idle close the call ran in %s (before %s), %d sessions opened; want a new one", second, first, up.opened.Load())
	}
}

// An agent session that serves nothing for SessionTimeout is closed by the gateway (the SDK
// sees too few of its requests to judge), with its upstream session.
func TestIdleAgentSessionIsClosed(t *testing.T) {
	up := newCountingUpstream(t, echoServer())
	p, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("echo", up.url)}, SessionTimeout: 300 * time.Millisecond})
	cs := connect(t, url)
	defer cs.Close()
	for range 3 { // busy for longer than the timeout: stays open
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "who", Arguments: map[string]any{"tag": "x"}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	if p.Sessions() != 1 {
		t.Fatal("a busy session was closed")
	}
	waitFor(t, func() bool { return p.Sessions() == 0 && up.closed.Load() == 1 })
}

// Identical calls that one session's cache coalesces share one upstream call; its progress
// reaches every waiting request under that request's own token. Issue 12, Deliver 4.
func TestCoalescedCallsEachGetTheirProgress(t *testing.T) {
	release := make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	var runs atomic.Int64
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		runs.Add(1)
		<-release
		req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: 1, Total: 1})
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	// A stand-in for the cache's coalescing: the first call runs detached, the second joins it.
	var mu sync.Mutex
	var shared chan *wire.Reply
	var listeners *wire.Listeners
	joined := make(chan struct{})
	around := func(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
		if call.Method != "tools/call" {
			return forward(ctx)
		}
		mu.Lock()
		if shared == nil {
			shared = make(chan *wire.Reply, 2)
			detached, l := wire.Detach(ctx)
			listeners = l
			leave := l.Join(ctx)
			defer leave()
			mu.Unlock()
			go func() {
				<-joined
				close(release)
				r, _ := forward(detached)
				shared <- r
				shared <- r
			}()
			return <-shared, nil
		}
		leave := listeners.Join(ctx)
		defer leave()
		mu.Unlock()
		close(joined)
		return <-shared, nil
	}
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("slow", sdkUpstream(t, s))}, Around: around})
	got := make(chan any, 4)
	agent := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			got <- req.Params.ProgressToken
		},
	})
	cs, err := agent.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var wg sync.WaitGroup
	for _, token := range []string{"first", "second"} {
		params := &mcp.CallToolParams{Name: "slow"}
		params.SetProgressToken(token)
		wg.Go(func() {
			if _, err := cs.CallTool(context.Background(), params); err != nil {
				t.Errorf("%s: %v", token, err)
			}
		})
		if token == "first" {
			waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return shared != nil })
		}
	}
	wg.Wait()
	tokens := map[any]bool{}
	for len(tokens) < 2 {
		select {
		case tok := <-got:
			tokens[tok] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("progress reached %v, want both requests' tokens", tokens)
		}
	}
	if !tokens["first"] || !tokens["second"] || runs.Load() != 1 {
		t.Fatalf("progress tokens %v, upstream runs %d; want first and second from one run", tokens, runs.Load())
	}
}
