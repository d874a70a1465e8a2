package serve

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
)

// startEcho serves an API route, POST and GET /v1/echo, that counts the requests reaching it
// and streams its reply slowly when asked (?slow=1), behind the edge checks of edge.
func startEcho(t *testing.T, httpAddr string, edge Edge) (base string, reached *atomic.Int64) {
	t.Helper()
	s, err := New(Config{Service: "test", GRPCAddr: "127.0.0.1:0", HTTPAddr: httpAddr,
		Edge: edge, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reached = new(atomic.Int64)
	echo := func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		reached.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("slow") != "" {
			// A reply that outlives the body read timeout and ends when the request's context
			// does, as a tail's does.
			for i := range 3 {
				fmt.Fprintf(w, "%d ", i)
				http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(edge.BodyReadTimeout):
				}
			}
		}
		w.Write(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(ctx, func(_ context.Context, mux *runtime.ServeMux, _ *grpc.ClientConn) error {
			if err := mux.HandlePath("POST", "/v1/echo", echo); err != nil {
				return err
			}
			return mux.HandlePath("GET", "/v1/echo", echo)
		})
	}()
	base = "http://" + s.HTTPAddr()
	waitHTTP(t, base+"/readyz", 200)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		s.Close(context.Background())
	})
	return base, reached
}

func do(t *testing.T, method, url, host string, header map[string]string, body string) (int, string) {
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// What a web page can make a browser send is refused before it reaches the API; what curl,
// grpc-gateway clients and same-origin pages send is not.
func TestBrowserRequestsAreRefusedAtTheEdge(t *testing.T) {
	base, reached := startEcho(t, "127.0.0.1:0", Edge{AllowedHosts: []string{"osiris.example.internal"}})
	port := base[strings.LastIndex(base, ":")+1:]
	json := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name, method, host string
		header             map[string]string
		body               string
		code               int
	}{
		{"curl", "POST", "", json, `{}`, 200},
		{"charset", "POST", "", map[string]string{"Content-Type": "application/json; charset=UTF-8"}, `{}`, 200},
		{"GET without body", "GET", "", nil, "", 200},
		{"localhost", "GET", "localhost:" + port, nil, "", 200},
		{"IPv6 loopback", "GET", "[::1]:" + port, nil, "", 200},
		{"pod IP", "GET", "10.1.2.3:" + port, nil, "", 200},
		{"configured name", "GET", "OSIRIS.example.internal:" + port, nil, "", 200},
		{"same-origin page", "POST", "", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}, `{}`, 200},

		{"CSRF text/plain form", "POST", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, `{}`, 403},
		{"CSRF fetch, Sec-Fetch-Site", "POST", "", map[string]string{"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}, `{}`, 403},
		{"CSRF even as JSON", "POST", "", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, `{}`, 403},
		{"DNS rebinding read", "GET", "evil.example:" + port, nil, "", 403},
		{"DNS rebinding write", "POST", "evil.example:" + port, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example:" + port}, `{}`, 403},
		{"localhost suffix", "GET", "localhost.evil.example:" + port, nil, "", 403},
		{"text/plain body", "POST", "", map[string]string{"Content-Type": "text/plain"}, `{}`, 415},
		{"no Content-Type", "POST", "", nil, `{}`, 415},
		{"form", "POST", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, `a=b`, 415},
		{"Latin-1 JSON", "POST", "", map[string]string{"Content-Type": "application/json; charset=latin1"}, `{}`, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reached.Load()
			code, body := do(t, tt.method, base+"/v1/echo", tt.host, tt.header, tt.body)
			if code != tt.code {
				t.Fatalf("%s: %d %q, want %d", tt.name, code, body, tt.code)
			}
			if got := reached.Load() - before; (code == 200) != (got == 1) {
				t.Fatalf("%s: answered %d and reached the API %d times", tt.name, code, got)
			}
		})
	}
	// The probes answer whatever the Host, as kubelet and Prometheus need.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := do(t, "GET", base+path, "osiris-audit.monitoring:"+port, nil, ""); code != 200 {
			t.Errorf("GET %s with a service name as Host: %d", path, code)
		}
	}
	if code, _ := do(t, "GET", base+"/openapi.json", "evil.example", nil, ""); code != 403 {
		t.Errorf("GET /openapi.json with a foreign Host: %d, want 403", code)
	}
}

// NUL bytes and invalid UTF-8 in a path or query are a 400 before the API sees them (the gRPC
// client would refuse to encode them: a 500).
func TestHostileBytesInPathOrQueryAre400(t *testing.T) {
	base, reached := startEcho(t, "127.0.0.1:0", Edge{})
	for _, pq := range []string{"/v1/echo?tool=%00", "/v1/echo?tool=%FF", "/v1/echo?%C3=x", "/v1/ec%FFho", "/v1/ec%00ho", "/v1/echo?tool=%zz"} {
		code, body := do(t, "GET", base+pq, "", nil, "")
		if code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %q, want 400", pq, code, body)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the API was reached %d times", n)
	}
	if code, _ := do(t, "GET", base+"/v1/echo?tool=caf%C3%A9", "", nil, ""); code != 200 {
		t.Errorf("valid UTF-8 query: %d", code)
	}
}

// A body that trickles in is cut off at the body read timeout; a reply that outlives it, on a
// connection whose body was read in time, is not.
func TestSlowBodyIsCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	base, reached := startEcho(t, "127.0.0.1:0", Edge{BodyReadTimeout: timeout})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	// Today's server waits for the other 99 bytes for ever; give it far longer than the timeout.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || reached.Load() != 1 {
		t.Fatalf("stalled body: %d, want 400", resp.StatusCode)
	}

	code, body := do(t, "POST", base+"/v1/echo?slow=1", "", map[string]string{"Content-Type": "application/json"}, `{"a":1}`)
	if code != 200 || body != `0 1 2 {"a":1}` {
		t.Fatalf("a long reply after a prompt body: %d %q", code, body)
	}
}

func TestEdgeSettingsAreValidated(t *testing.T) {
	for _, e := range []Edge{
		{AllowedHosts: []string{"evil.example:80"}},
		{AllowedHosts: []string{"http://evil.example"}},
		{AllowedHosts: []string{"a..b"}},
		{AllowedHosts: []string{"*.example"}},
		{BodyReadTimeout: -time.Second},
		{BodyReadTimeout: time.Hour},
	} {
		_, err := New(Config{Service: "x", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Edge: e, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%+v: %v, want an error naming the flag", e, err)
		}
	}
}

func TestEdgeFlags(t *testing.T) {
	var e Edge
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	e.RegisterFlags(fs)
	if err := fs.Parse([]string{"--allowed-hosts", "a.example, b", "--allowed-hosts=c", "--body-read-timeout=5s"}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(e.AllowedHosts) != "[a.example b c]" || e.BodyReadTimeout != 5*time.Second {
		t.Fatalf("parsed %+v", e)
	}
	if f := fs.Lookup("body-read-timeout"); f.DefValue != DefaultBodyReadTimeout.String() {
		t.Fatalf("--body-read-timeout defaults to %s", f.DefValue)
	}
}

// What the edge checks cost one REST request (the JSON decoding and the gRPC hop behind them
// cost tens of microseconds).
func BenchmarkEdgeChecks(b *testing.B) {
	edge := Edge{AllowedHosts: []string{"osiris.example.internal"}}
	h := guardEdge(requireJSON(edge.LimitBodyTime(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))), edge, "127.0.0.1:8101")
	req := httptest.NewRequest("POST", "http://127.0.0.1:8101/v1/audit/events?sessionId=s1&tool=connections_list", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Origin", "http://127.0.0.1:8101")
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
