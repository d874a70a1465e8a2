package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/gateway/internal/fanout"
	"github.com/osirisplane/osiris/services/cache"
)

type discoverArgs struct {
	Connection string `json:"connection"`
	Noise      int    `json:"noise,omitempty"`
}

func startCache(t testing.TB) string {
	t.Helper()
	cfg := cache.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := cache.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc.GRPCAddr()
}

func TestCachePoliciesServeRepeatsAndCoalesce(t *testing.T) {
	var served atomic.Int64
	s := mcp.NewServer(&mcp.Implementation{Name: "osiris", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "discovery_request"}, func(_ context.Context, _ *mcp.CallToolRequest, a discoverArgs) (*mcp.CallToolResult, any, error) {
		n := served.Add(1)
		time.Sleep(100 * time.Millisecond) // long enough for concurrent callers to overlap
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Connection + "#" + strconv.FormatInt(n, 10)}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)

	conf := filepath.Join(t.TempDir(), "gateway.json")
	os.WriteFile(conf, []byte(`{"cache": {"discovery_request": {"ttl": "1h", "key": ["connection"], "tags": ["connection:{connection}"]}}}`), 0o600)
	a := startAudit(t)
	cacheAddr := startCache(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.CacheAddr, cfg.ConfigFile = "127.0.0.1:0", []string{"osiris=" + srv.URL}, a.svc.GRPCAddr(), cacheAddr, conf
	g := run(t, cfg)
	cs := agent(t, g.URL())
	defer cs.Close()

	call := func(conn string, noise int) (string, bool) {
		t.Helper()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "discovery_request", Arguments: discoverArgs{conn, noise}})
		if err != nil || res.IsError {
			t.Fatalf("call: %v %v", res, err)
		}
		cached, _ := res.Meta[fanout.CachedMetaKey].(bool)
		if res.Meta[fanout.MetaKey] == nil {
			t.Fatal("cached or not, a reply carries its correlation id")
		}
		return res.Content[0].(*mcp.TextContent).Text, cached
	}
	if got, cached := call("@mysql.main", 1); got != "@mysql.main#1" || cached {
		t.Fatalf("first call: %q cached=%v", got, cached)
	}
	if got, cached := call("@mysql.main", 2); got != "@mysql.main#1" || !cached { // noise is not part of the key
		t.Fatalf("repeat: %q cached=%v, want the first result from the cache", got, cached)
	}
	if got, _ := call("@pg.main", 1); got != "@pg.main#2" {
		t.Fatalf("other connection: %q", got)
	}

	// 20 identical concurrent calls reach the upstream once.
	before := served.Load()
	var wg sync.WaitGroup
	results := make([]string, 20)
	for i := range results {
		wg.Go(func() { // t.Error, not call's t.Fatal: this is not the test's goroutine
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "discovery_request", Arguments: discoverArgs{"@snowflake.main", 0}})
			if err != nil || res.IsError {
				t.Errorf("concurrent call: %v %v", res, err)
				return
			}
			results[i] = res.Content[0].(*mcp.TextContent).Text
		})
	}
	wg.Wait()
	if served.Load() != before+1 {
		t.Fatalf("20 concurrent identical calls made %d upstream calls, want 1", served.Load()-before)
	}
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("coalesced callers got different results: %q vs %q", r, results[0])
		}
	}

	// Invalidating the connection's tag makes the next call go upstream again.
	conn, err := grpc.NewClient(cacheAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	inv, err := cachev1.NewCacheServiceClient(conn).InvalidateByTag(context.Background(), &cachev1.InvalidateByTagRequest{Tag: "connection:@mysql.main"})
	if err != nil || inv.GetRemoved() != 1 {
		t.Fatalf("invalidate: %v %v", inv, err)
	}
	if got, cached := call("@mysql.main", 3); cached || got == "@mysql.main#1" {
		t.Fatalf("after invalidation: %q cached=%v, want a fresh upstream result", got, cached)
	}

	// Cached replies are audited like any other call: start and end for each of the 24 calls.
	started, err := a.client.ListEvents(context.Background(), &auditv1.ListEventsRequest{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, PageSize: 100})
	if err != nil || len(started.GetEvents()) != 24 {
		t.Fatalf("%d calls audited, want 24 (%v)", len(started.GetEvents()), err)
	}
}

func TestBadCacheConfigIsRefused(t *testing.T) {
	for name, body := range map[string]string{
		"unknown field":  `{"cache": {"t": {"ttl": "1h", "keys": []}}}`,
		"bad ttl":        `{"cache": {"t": {"ttl": "forever"}}}`,
		"bad template":   `{"cache": {"t": {"ttl": "1h", "tags": ["connection:{"]}}}`,
		"unknown top":    `{"caches": {}}`,
		"not JSON":       `ttl: 1h`,
		"ttl over bound": `{"cache": {"t": {"ttl": "9000h"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "gateway.json")
			os.WriteFile(conf, []byte(body), 0o600)
			cfg := gateway.DefaultConfig()
			cfg.Upstreams, cfg.ConfigFile = []string{"x=http://127.0.0.1:1/mcp"}, conf
			if err := cfg.Validate(); err == nil {
				t.Fatalf("config %s accepted", body)
			}
		})
	}
}
