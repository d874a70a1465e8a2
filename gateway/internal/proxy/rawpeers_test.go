package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two fakes that speak streamable HTTP byte for byte, for the tests that must see exact
// bytes on both sides of the gateway (a real SDK peer would decode and re-encode them).

// rawMsg is one JSON-RPC message as the fakes read it.
type rawMsg struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// fakeUpstream answers each method with a fixed raw result and records the raw params of
// everything it receives. onCall, when set for a method, writes the reply itself (for
// messages sent inside a call).
type fakeUpstream struct {
	t       *testing.T
	init    string            // the initialize result
	results map[string]string // method -> raw result
	// duringInit are notifications sent on the initialize response stream before its result.
	duringInit []string
	onCall     map[string]func(w *sseWriter, msg rawMsg)

	mu        sync.Mutex
	received  []rawMsg
	responses chan rawMsg // responses the client POSTs to the fake's requests
}

func newFakeUpstream(t *testing.T, init string, results map[string]string) *fakeUpstream {
	return &fakeUpstream{t: t, init: init, results: results, onCall: map[string]func(*sseWriter, rawMsg){},
		responses: make(chan rawMsg, 16)}
}

func (f *fakeUpstream) serve() string {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv.URL
}

// got returns the raw params of every message received with method.
func (f *fakeUpstream) got(method string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.received {
		if m.Method == method {
			out = append(out, string(m.Params))
		}
	}
	return out
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		http.Error(w, "no standalone stream", http.StatusMethodNotAllowed)
		return
	case http.MethodDelete:
		return
	}
	body, _ := io.ReadAll(r.Body)
	var msg rawMsg
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if msg.Method == "" {
		f.responses <- msg
		w.WriteHeader(http.StatusAccepted)
		return
	}
	f.mu.Lock()
	f.received = append(f.received, msg)
	f.mu.Unlock()
	if msg.ID == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.Header().Set("Mcp-Session-Id", "fake-session")
	if msg.Method == "initialize" {
		sw := newSSE(w)
		for _, n := range f.duringInit {
			sw.event(n)
		}
		sw.result(msg.ID, f.init)
		return
	}
	if h := f.onCall[msg.Method]; h != nil {
		h(newSSE(w), msg)
		return
	}
	res, ok := f.results[msg.Method]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"no %s"}}`, msg.ID, msg.Method)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, msg.ID, res)
}

// sseWriter writes one SSE response.
type sseWriter struct {
	w http.ResponseWriter
}

func newSSE(w http.ResponseWriter) *sseWriter {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w}
}

func (s *sseWriter) event(data string) {
	fmt.Fprintf(s.w, "data: %s\n\n", data)
	s.w.(http.Flusher).Flush()
}

func (s *sseWriter) result(id json.RawMessage, result string) {
	s.event(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result))
}

// rawAgent is an MCP client that writes and reads exact bytes.
type rawAgent struct {
	t       *testing.T
	url     string
	session string
	version string
	nextID  int
}

// initialize performs the handshake (without notifications/initialized) and returns every
// message of the initialize response stream, the result last.
func (a *rawAgent) initialize(version string) []string {
	a.version = version
	return a.request("initialize", fmt.Sprintf(`{"protocolVersion":%q,"capabilities":{"elicitation":{},"sampling":{}},"clientInfo":{"name":"raw","version":"1"}}`, version))
}

// request sends a request with raw params ("" for none) and returns the data of every event
// of its response stream, ending with the response.
func (a *rawAgent) request(method, params string) []string {
	a.nextID++
	return a.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q%s}`, a.nextID, method, paramsMember(params)), nil)
}

func paramsMember(params string) string {
	if params == "" {
		return ""
	}
	return `,"params":` + params
}

func (a *rawAgent) notify(method, params string) {
	a.post(fmt.Sprintf(`{"jsonrpc":"2.0","method":%q%s}`, method, paramsMember(params)), nil)
}

// post sends body; answer, when set, is called with each server-to-client request on the
// stream and returns the raw result to POST back.
func (a *rawAgent) post(body string, answer func(req rawMsg) string) []string {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if a.session != "" {
		req.Header.Set("Mcp-Session-Id", a.session)
		req.Header.Set("Mcp-Protocol-Version", a.version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		a.session = id
	}
	if resp.StatusCode == http.StatusAccepted {
		return nil
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			var m rawMsg
			if json.Unmarshal(b, &m) == nil && (m.Result != nil || m.Error != nil) && m.Method == "" {
				return []string{string(bytes.TrimSpace(b))} // a response alone, as JSON
			}
		}
		return []string{fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b))}
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		out = append(out, data)
		var m rawMsg
		json.Unmarshal([]byte(data), &m)
		switch {
		case m.Method != "" && m.ID != nil && answer != nil:
			a.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, m.ID, answer(m)), nil)
		case m.Method == "" && (m.Result != nil || m.Error != nil):
			return out
		}
	}
	return out
}

// listen opens the standalone GET stream and returns its messages on a channel.
func (a *rawAgent) listen() <-chan string {
	req, _ := http.NewRequest(http.MethodGet, a.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", a.session)
	req.Header.Set("Mcp-Protocol-Version", a.version)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { resp.Body.Close() })
	out := make(chan string, 64)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- data
			}
		}
	}()
	return out
}

// close ends the agent's session.
func (a *rawAgent) close() {
	req, _ := http.NewRequest(http.MethodDelete, a.url, nil)
	req.Header.Set("Mcp-Session-Id", a.session)
	req.Header.Set("Mcp-Protocol-Version", a.version)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// result is the "result" member of the last message, as raw bytes.
func result(t *testing.T, msgs []string) string {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatal("no response")
	}
	var m rawMsg
	if err := json.Unmarshal([]byte(msgs[len(msgs)-1]), &m); err != nil || m.Result == nil {
		t.Fatalf("not a result: %s", msgs[len(msgs)-1])
	}
	return string(m.Result)
}

func receive(t *testing.T, c <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case m := <-c:
		return m
	case <-time.After(within):
		t.Fatalf("nothing received within %s", within)
		return ""
	}
}
