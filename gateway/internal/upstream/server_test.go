package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newTestServer is a Go SDK server with the tools the tests call: "notify" sends
// arguments.n progress notifications before its result, "sample" asks the client for a
// sampling and returns its text, "block" waits for its cancellation, "exit" exits the
// process with status 3. With outOfCall, once initialized it asks the client for its roots
// and reports them in a progress notification with the token "roots", both outside any call.
func newTestServer(outOfCall bool) *mcp.Server {
	opts := &mcp.ServerOptions{}
	if outOfCall {
		opts.InitializedHandler = func(_ context.Context, req *mcp.InitializedRequest) {
			ss := req.Session
			go func() {
				ctx := context.Background()
				msg := ""
				if roots, err := ss.ListRoots(ctx, nil); err != nil {
					msg = "error: " + err.Error()
				} else {
					b, _ := json.Marshal(roots.Roots)
					msg = string(b)
				}
				_ = ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "roots", Message: msg, Progress: 1})
			}()
		}
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "upstream-test", Version: "1"}, opts)
	object := map[string]any{"type": "object"}
	s.AddTool(&mcp.Tool{Name: "notify", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args struct{ N int }
		if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
			return nil, err
		}
		for i := range args.N {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: req.Params.GetProgressToken(), Progress: float64(i + 1), Message: fmt.Sprint(i)}); err != nil {
				return nil, err
			}
		}
		return text("done"), nil
	})
	s.AddTool(&mcp.Tool{Name: "sample", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, err
		}
		c, ok := res.Content.(*mcp.TextContent)
		if !ok {
			return nil, errors.New("sampling answered without text")
		}
		return text("sampled: " + c.Text), nil
	})
	s.AddTool(&mcp.Tool{Name: "block", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	s.AddTool(&mcp.Tool{Name: "exit", InputSchema: object}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		os.Exit(3)
		return nil, nil
	})
	return s
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// sdkHTTP serves newTestServer over streamable HTTP and counts the requests by method.
type sdkHTTP struct {
	server *mcp.Server
	url    string

	mu      sync.Mutex
	methods map[string]int
	deletes []string // the Mcp-Session-Id of each DELETE
	gets    chan struct{}
}

func newSDKHTTP(t *testing.T) *sdkHTTP {
	h := &sdkHTTP{server: newTestServer(false), methods: map[string]int{}, gets: make(chan struct{}, 16)}
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return h.server }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.methods[r.Method]++
		if r.Method == http.MethodDelete {
			h.deletes = append(h.deletes, r.Header.Get(headerSession))
		}
		h.mu.Unlock()
		if r.Method == http.MethodGet {
			select {
			case h.gets <- struct{}{}:
			default:
			}
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// session is the server's only session.
func (h *sdkHTTP) session(t *testing.T) *mcp.ServerSession {
	t.Helper()
	for ss := range h.server.Sessions() {
		return ss
	}
	t.Fatal("the server has no session")
	return nil
}
