package gateway_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/osirisplane/osiris/gateway"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func post(t testing.TB, url, body string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func rawGateway(t testing.TB) (*gateway.Gateway, string) {
	t.Helper()
	up, _ := upstream(t)
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.MaxRequestBytes = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), 4096
	cfg.AllowedOrigins = []string{"https://console.example"}
	g := run(t, cfg)
	code, _, h := post(t, g.URL(), initBody, nil)
	if code != http.StatusOK || h.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %d", code)
	}
	return g, h.Get("Mcp-Session-Id")
}

func TestBadInputGetsTheRightError(t *testing.T) {
	g, sid := rawGateway(t)
	session := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
	tests := []struct {
		name   string
		body   string
		header map[string]string
		code   int
		want   string
	}{
		{"malformed JSON", `{"jsonrpc":"2.0","id":1,"method":`, nil, 400, "malformed"},
		{"not JSON-RPC", `[1,2,3]`, session, 400, ""},
		{"oversized body", `{"jsonrpc":"2.0","id":9,"method":"ping","params":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, session, 413, "exceeds 4096 bytes"},
		// The gateway forwards a method it does not know; this upstream (the Go SDK) refuses it
		// with HTTP 400, which the agent gets as a JSON-RPC error naming it.
		{"unknown method", `{"jsonrpc":"2.0","id":2,"method":"nope/nothing"}`, session, 200, `"nope/nothing\\\" unsupported`},
		{"unknown session", `{"jsonrpc":"2.0","id":3,"method":"ping"}`, map[string]string{"Mcp-Session-Id": "no-such-session"}, 404, "session not found"},
		{"bad origin", initBody, map[string]string{"Origin": "http://evil.example"}, 403, ""},
		{"rebinding host", initBody, map[string]string{"Host": "evil.example"}, 403, "invalid Host"},
		{"allowed origin", `{"jsonrpc":"2.0","id":4,"method":"ping"}`, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18", "Origin": "https://console.example"}, 200, `"result":{}`},
		{"unknown tool reaches the upstream's error", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope","arguments":{}}}`, session, 200, `unknown tool`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.header
			code, body, _ := postHost(t, g.URL(), tt.body, req)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Fatalf("status %d body %q; want %d containing %q", code, body, tt.code, tt.want)
			}
		})
	}
}

// postHost is post, but honours a Host header (net/http takes it from Request.Host).
func postHost(t testing.TB, url, body string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	if host, ok := header["Host"]; ok {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	return post(t, url, body, header)
}

// FuzzRequestPath posts arbitrary bodies into a live session: whatever arrives, the gateway
// answers with a client error or a JSON-RPC reply, never a server error or a crash.
func FuzzRequestPath(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"ping"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"fail":true}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":[1,2]}}`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":""}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`,
		`{"jsonrpc":"2.0","id":{},"method":"ping"}`,
		`{"jsonrpc":"1.0"}`, `null`, `{}`, "\x00\xff",
	} {
		f.Add(seed)
	}
	g, sid := rawGateway(f)
	f.Fuzz(func(t *testing.T, body string) {
		code, resp, _ := post(t, g.URL(), body, map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
		if code >= 500 {
			t.Fatalf("body %q: status %d %q", body, code, resp)
		}
	})
}
