package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/osirisplane/osiris/internal/stack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is the output of Up, written by its goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// upAnyPorts runs `osiris up` on free ports in front of an in-process MCP server, and returns
// each server's HTTP address as the printed table gives it.
func upAnyPorts(t *testing.T) map[string]string {
	t.Helper()
	upstream := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "1"}, nil)
	mcp.AddTool(upstream, &mcp.Tool{Name: "echo"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hi"}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstream }, nil))
	dir := t.TempDir() // before the cleanup below, so removed after the stack has stopped
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- stack.Up(ctx, stack.Config{DataDir: dir, Upstreams: []string{"up=" + srv.URL}, AnyPorts: true},
			slog.New(slog.NewTextHandler(io.Discard, nil)), &out)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("osiris up: %v", err)
		}
		srv.CloseClientConnections()
		srv.Close()
	})
	addrs := map[string]string{}
	for deadline := time.Now().Add(20 * time.Second); len(addrs) < 5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("osiris up printed no table:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "MCP clients connect to") {
			continue
		}
		for _, line := range strings.Split(out.String(), "\n") {
			f := strings.Fields(line)
			if len(f) == 4 && strings.HasPrefix(f[2], "http://") {
				addrs[f[0]] = strings.TrimSuffix(strings.TrimPrefix(f[2], "http://"), "/mcp")
			}
		}
	}
	for name, addr := range addrs {
		if name == "gateway" {
			continue
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if code, _ := send(t, "GET", "http://"+addr+"/readyz", "", nil, ""); code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became ready", name)
			}
		}
	}
	return addrs
}

// send makes one request; host, when set, replaces the Host header.
func send(t *testing.T, method, url, host string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustJSON makes a request as a script would (same Host, JSON, no Origin) and decodes the reply.
func mustJSON(t *testing.T, method, url, body string, into any) {
	t.Helper()
	code, reply := send(t, method, url, "", map[string]string{"Content-Type": "application/json"}, body)
	if code != 200 {
		t.Fatalf("%s %s: %d %s", method, url, code, reply)
	}
	if into != nil {
		if err := json.Unmarshal([]byte(reply), into); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, reply)
		}
	}
}

// state is what a forged request could change, read back through each service's API.
func state(t *testing.T, addrs map[string]string) string {
	t.Helper()
	var verify struct {
		Ok      bool   `json:"ok"`
		Checked string `json:"checked"`
	}
	mustJSON(t, "GET", "http://"+addrs["audit"]+"/v1/audit/chain:verify", "", &verify)
	var calls struct {
		ToolCalls string `json:"toolCalls"`
	}
	mustJSON(t, "GET", "http://"+addrs["telemetry"]+"/v1/telemetry/summary", "", &calls)
	var sessions struct {
		Sessions []struct {
			ID       string  `json:"id"`
			Version  string  `json:"version"`
			ClosedAt *string `json:"closedAt"`
		} `json:"sessions"`
	}
	mustJSON(t, "GET", "http://"+addrs["session"]+"/v1/sessions", "", &sessions)
	var value struct {
		Value any `json:"value"`
	}
	mustJSON(t, "GET", "http://"+addrs["session"]+"/v1/sessions/victim/values/secret", "", &value)
	var stats struct {
		Entries string `json:"entries"`
	}
	mustJSON(t, "GET", "http://"+addrs["cache"]+"/v1/cache/stats", "", &stats)
	var entry struct {
		Value string `json:"value"`
	}
	mustJSON(t, "GET", "http://"+addrs["cache"]+"/v1/cache/ns/key", "", &entry)
	return fmt.Sprintf("audit %v/%s; telemetry calls %s; sessions %+v, secret %v; cache entries %s, ns/key %q",
		verify.Ok, verify.Checked, calls.ToolCalls, sessions.Sessions, value.Value, stats.Entries, entry.Value)
}

// Inside `osiris up`, every service's HTTP port and the gateway's /mcp refuse what a web page
// can make a browser send: a cross-origin form post or fetch (CSRF) and a request to a name
// the page rebound to the loopback address (DNS rebinding). Nothing is stored or changed, and
// nothing is read. Invalid UTF-8 in a path or query is a 400, not a 500.
func TestBrowsersCannotReachTheStack(t *testing.T) {
	addrs := upAnyPorts(t)
	// What an attacker would change or read: a session's secret, a cache entry.
	mustJSON(t, "POST", "http://"+addrs["session"]+"/v1/sessions", `{"id":"victim"}`, nil)
	mustJSON(t, "PUT", "http://"+addrs["session"]+"/v1/sessions/victim/values/secret", `{"value":"s3cret"}`, nil)
	mustJSON(t, "PUT", "http://"+addrs["cache"]+"/v1/cache/ns/key", `{"value":"dmFsdWU="}`, nil)
	before := state(t, addrs)

	type attack struct {
		service, method, path, body string
	}
	writes := []attack{
		{"audit", "POST", "/v1/audit/events", `{"event":{"eventType":"EVENT_TYPE_TOOL_CALL_STARTED","tool":"forged","sessionId":"csrf"}}`},
		{"audit", "POST", "/v1/audit/events:batchAppend", `{"events":[{"eventType":"EVENT_TYPE_TOOL_CALL_STARTED","tool":"forged"}]}`},
		{"telemetry", "POST", "/v1/telemetry/tool-calls", `{"call":{"tool":"forged","status":"CALL_STATUS_OK","sessionId":"csrf"}}`},
		{"session", "POST", "/v1/sessions", `{"id":"csrf"}`},
		{"session", "POST", "/v1/sessions/victim:close", `{}`},
		{"session", "PUT", "/v1/sessions/victim/values/secret", `{"value":"forged"}`},
		{"cache", "POST", "/v1/cache:clear", `{}`},
		{"cache", "PUT", "/v1/cache/ns/key", `{"value":"Zm9yZ2Vk"}`},
		{"cache", "DELETE", "/v1/cache/ns/key", ``},
	}
	for _, a := range writes {
		addr := addrs[a.service]
		port := addr[strings.LastIndex(addr, ":")+1:]
		for _, v := range []struct {
			name, host string
			header     map[string]string
		}{
			{"CSRF form post", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}},
			{"CSRF fetch", "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}},
			{"DNS rebinding", "evil.example:" + port, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example:" + port, "Sec-Fetch-Site": "same-origin"}},
		} {
			if code, body := send(t, a.method, "http://"+addr+a.path, v.host, v.header, a.body); code != http.StatusForbidden {
				t.Errorf("%s %s %s: %d %s, want 403", v.name, a.method, a.path, code, body)
			}
		}
	}
	reads := []attack{
		{"audit", "GET", "/v1/audit/events", ""},
		{"telemetry", "GET", "/v1/telemetry/tool-calls", ""},
		{"session", "GET", "/v1/sessions/victim/values/secret", ""},
		{"cache", "GET", "/v1/cache/ns/key", ""},
	}
	for _, a := range reads {
		addr := addrs[a.service]
		host := "evil.example:" + addr[strings.LastIndex(addr, ":")+1:]
		code, body := send(t, a.method, "http://"+addr+a.path, host, nil, "")
		if code != http.StatusForbidden || strings.Contains(body, "s3cret") || strings.Contains(body, "dmFsdWU=") {
			t.Errorf("DNS rebinding GET %s: %d %s, want 403", a.path, code, body)
		}
	}

	// The gateway: an MCP initialize, cross-origin and through a rebound name.
	gw := "http://" + addrs["gateway"] + "/mcp"
	port := addrs["gateway"][strings.LastIndex(addrs["gateway"], ":")+1:]
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"evil","version":"1"}}}`
	for _, v := range []struct {
		name, host string
		header     map[string]string
	}{
		{"CSRF form post", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example", "Accept": "application/json, text/event-stream"}},
		{"CSRF fetch", "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Accept": "application/json, text/event-stream"}},
		{"DNS rebinding", "evil.example:" + port, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example:" + port, "Sec-Fetch-Site": "same-origin", "Accept": "application/json, text/event-stream"}},
	} {
		if code, body := send(t, "POST", gw, v.host, v.header, initialize); code != http.StatusForbidden {
			t.Errorf("gateway %s: %d %s, want 403", v.name, code, body)
		}
	}

	if after := state(t, addrs); after != before {
		_, events := send(t, "GET", "http://"+addrs["audit"]+"/v1/audit/events", "", nil, "")
		t.Errorf("the forged requests changed the stack:\nbefore %s\nafter  %s\naudit: %s", before, after, events)
	}

	// Bytes no identifier may hold: 400 with a reason, not 500.
	for _, a := range []attack{
		{"audit", "GET", "/v1/audit/events?tool=%FF", ""},
		{"audit", "GET", "/v1/audit/events?sessionId=a%00b", ""},
		{"telemetry", "GET", "/v1/telemetry/tool-calls?tool=%C3", ""},
		{"session", "GET", "/v1/sessions/%FF", ""},
		{"cache", "GET", "/v1/cache/ns/%FF%FE", ""},
	} {
		if code, body := send(t, a.method, "http://"+addrs[a.service]+a.path, "", nil, ""); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", a.path, code, body)
		}
	}

	// A client that is neither (curl, an MCP client on the same machine) still gets through.
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: gw}, nil)
	if err != nil {
		t.Fatalf("an MCP client on the same machine: %v", err)
	}
	defer cs.Close()
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
}
