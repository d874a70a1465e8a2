package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Params reach the server byte for byte and results, errors and the initialize result come
// back byte for byte, whether the server answers with JSON or an event stream; every request
// carries the session's headers.
func TestHTTPBytes(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sse=%v", sse), func(t *testing.T) {
			srv := newRawHTTP(t, func(h *rawHTTP) {
				h.sse = sse
				h.call = func(w http.ResponseWriter, r *http.Request, e envelope) {
					member := `"result":` + string(e.Params)
					switch e.Method {
					case "result":
						member = `"result":` + rawResult
					case "fail":
						member = `"error":` + rawError
					}
					if sse {
						writeSSE(w, "data: "+response(e.ID, member))
					} else {
						writeJSON(w, e.ID, member)
					}
				}
			})
			ctx := testContext(t)
			s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url, Header: http.Header{"Authorization": {"Bearer t0ken"}}}})
			if got := string(s.InitializeResult()); got != rawInitResult {
				t.Errorf("initialize result %s, want %s", got, rawInitResult)
			}
			for _, params := range fidelityParams {
				if _, err := s.Call(ctx, "tools/call", json.RawMessage(params)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Call(ctx, "result", nil)
			if err != nil || string(res) != rawResult {
				t.Errorf("result %s (%v), want %s", res, err, rawResult)
			}
			_, err = s.Call(ctx, "fail", nil)
			checkRawError(t, err)

			posts := srv.posted()
			for i, params := range fidelityParams {
				want := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":%s}`, i+2, params)
				if posts[i+1].body != want {
					t.Errorf("the server got\n%s\nwant\n%s", posts[i+1].body, want)
				}
			}
			if want := `{"jsonrpc":"2.0","id":5,"method":"result"}`; posts[4].body != want {
				t.Errorf("a request without params reached the server as %s, want %s", posts[4].body, want)
			}
			for i, p := range posts {
				h := p.header
				if h.Get("Content-Type") != "application/json" || h.Get("Accept") != "application/json, text/event-stream" ||
					h.Get("Authorization") != "Bearer t0ken" {
					t.Errorf("request %d headers %v", i, h)
				}
				sid, version := h.Get(headerSession), h.Get(headerVersion)
				if i == 0 && (sid != "" || version != "") {
					t.Errorf("initialize carried session %q, version %q", sid, version)
				}
				if i > 0 && (sid != "sess-1" || version != "2025-11-25") {
					t.Errorf("request %d carried session %q, version %q", i, sid, version)
				}
			}
		})
	}
}

// A call's stream that ends after events with ids is resumed with GET and Last-Event-ID;
// what it carried before and after goes to the Handler with the call's context.
func TestHTTPResume(t *testing.T) {
	lastIDs := make(chan string, 4)
	var callID json.RawMessage
	srv := newRawHTTP(t, func(h *rawHTTP) {
		h.call = func(w http.ResponseWriter, r *http.Request, e envelope) {
			callID = e.ID
			writeSSE(w, "id: e1\nretry: 5\ndata: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{"n":1}}`)
		}
		h.get = func(w http.ResponseWriter, r *http.Request) {
			lastIDs <- r.Header.Get(headerLastID)
			if len(lastIDs) == 1 { // the first resumption: nothing new yet
				writeSSE(w)
				return
			}
			writeSSE(w, "id: e2\ndata: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{"n":2}}`,
				"id: e3\ndata: "+response(callID, `"result":{"ok":true}`))
		}
	})
	rec := newRecorder()
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{HTTP: &HTTP{URL: srv.url}, Handler: rec.handler()})
	res, err := s.Call(tagged(ctx, "call"), "slow", json.RawMessage(`{}`))
	if err != nil || string(res) != `{"ok":true}` {
		t.Fatalf("Call = %s, %v", res, err)
	}
	if got := []string{<-lastIDs, <-lastIDs}; got[0] != "e1" || got[1] != "e1" {
		t.Errorf("resumed with Last-Event-ID %q", got)
	}
	notes := rec.notifications()
	if len(notes) != 2 || string(notes[0].params) != `{"n":1}` || string(notes[1].params) != `{"n":2}` {
		t.Fatalf("notifications %v", notes)
	}
	for _, n := range notes {
		if n.tag != "call" {
			t.Errorf("%s handled with the context of %v, not the call's", n.params, n.tag)
		}
	}
}

// A call's stream that ends before its response without an event id fails the call.
func TestHTTPStreamEndsEarly(t *testing.T) {
	srv := newRawHTTP(t, func(h *rawHTTP) {
		h.call = func(w http.ResponseWriter, r *http.Request, e envelope) {
			writeSSE(w, "data: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{}}`)
		}
	})
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	if _, err := s.Call(ctx, "x", nil); err == nil || !strings.Contains(err.Error(), "ended before the response") {
		t.Fatalf("Call = %v", err)
	}
}

// Cancelling a call sends notifications/cancelled with its id and the reason.
func TestHTTPCancel(t *testing.T) {
	started := make(chan json.RawMessage, 1)
	srv := newRawHTTP(t, func(h *rawHTTP) {
		h.call = func(w http.ResponseWriter, r *http.Request, e envelope) {
			writeSSE(w, ": working")
			started <- e.ID
			<-r.Context().Done()
		}
	})
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	callCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Call(callCtx, "tools/call", json.RawMessage(`{"name":"block"}`))
		errc <- err
	}()
	id := <-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Call returned %v", err)
	}
	p := srv.waitPost(t, "notifications/cancelled", func(p posted) bool { return p.env.Method == methodCancelled })
	if want := fmt.Sprintf(`{"requestId":%s,"reason":"context canceled"}`, id); string(p.env.Params) != want {
		t.Errorf("cancelled with %s, want %s", p.env.Params, want)
	}
}

// A 404 to a request with the session id ends the session; Close then sends no DELETE.
func TestHTTPNotFound(t *testing.T) {
	srv := newRawHTTP(t, func(h *rawHTTP) {
		h.call = func(w http.ResponseWriter, r *http.Request, e envelope) { http.NotFound(w, r) }
	})
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	if _, err := s.Call(ctx, "tools/list", nil); !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Call answered 404: %v, want ErrSessionLost", err)
	}
	<-s.Done()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(s.Err(), ErrSessionLost) {
		t.Errorf("Err = %v", s.Err())
	}
	if len(srv.deletes) != 0 {
		t.Errorf("DELETE sent for a session the server does not know")
	}
}

// A message over MaxMessageBytes fails its call with the limit named; the session goes on.
func TestHTTPMaxMessageBytes(t *testing.T) {
	const limit = 1 << 10
	big := `"result":{"text":"` + strings.Repeat("x", limit) + `"}`
	srv := newRawHTTP(t, func(h *rawHTTP) {
		h.call = func(w http.ResponseWriter, r *http.Request, e envelope) {
			switch e.Method {
			case "big-json":
				writeJSON(w, e.ID, big)
			case "big-sse":
				writeSSE(w, "data: "+response(e.ID, big))
			default:
				writeJSON(w, e.ID, `"result":{}`)
			}
		}
	})
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}, MaxMessageBytes: limit})
	for _, method := range []string{"big-json", "big-sse"} {
		if _, err := s.Call(ctx, method, nil); err == nil || !strings.Contains(err.Error(), "1024 bytes (MaxMessageBytes)") {
			t.Errorf("%s: %v, want the limit named", method, err)
		}
	}
	if _, err := s.Call(ctx, "small", nil); err != nil {
		t.Errorf("a call after a refused message: %v", err)
	}
}

// The standalone stream opens after notifications/initialized and is reopened with
// Last-Event-ID when it ends; its notifications reach Notify with the session's context
// (an event over MaxMessageBytes is skipped), its requests are answered, and Close stops
// it and deletes the session.
func TestHTTPStandaloneStream(t *testing.T) {
	const limit = 1 << 10
	lastIDs := make(chan string, 8)
	srv := newRawHTTP(t, func(h *rawHTTP) {
		h.get = func(w http.ResponseWriter, r *http.Request) {
			lastIDs <- r.Header.Get(headerLastID)
			if r.Header.Get(headerLastID) == "" {
				writeSSE(w,
					"id: g1\nretry: 5\ndata: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{"n":1}}`,
					"data: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{"big":"`+strings.Repeat("x", limit)+`"}}`,
					"id: g2\ndata: "+`{"jsonrpc":"2.0","id":"srv-1","method":"roots/list","params":{}}`,
					"data: "+`{"jsonrpc":"2.0","id":"srv-2","method":"x/fail"}`,
					"data: "+`{"jsonrpc":"2.0","id":7,"method":"x/refuse"}`)
				return
			}
			writeSSE(w, "data: "+`{"jsonrpc":"2.0","method":"notifications/message","params":{"n":2}}`)
			<-r.Context().Done()
		}
	})
	rec := newRecorder()
	rec.answer = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		switch method {
		case "x/fail":
			return nil, errors.New("boom")
		case "x/refuse":
			return nil, fmt.Errorf("wrapped: %w", &jsonrpc.Error{Code: -32001, Message: "no", Data: json.RawMessage(`{"b":1,"a":2}`)})
		}
		return json.RawMessage(`{"roots":[]}`), nil
	}
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{HTTP: &HTTP{URL: srv.url}, Handler: rec.handler(), MaxMessageBytes: limit})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}`,
		`{"jsonrpc":"2.0","id":"srv-2","error":{"code":-32603,"message":"boom"}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"no","data":{"b":1,"a":2}}}`,
	} {
		srv.waitPost(t, want, func(p posted) bool { return p.body == want })
	}
	rec.waitFor(t, "two notifications", func() bool { return len(rec.notifications()) == 2 })
	if got := []string{<-lastIDs, <-lastIDs}; got[0] != "" || got[1] != "g2" {
		t.Errorf("GETs with Last-Event-ID %q, want none then g2", got)
	}
	for i, n := range rec.notifications() {
		if want := fmt.Sprintf(`{"n":%d}`, i+1); string(n.params) != want || n.tag != "session" {
			t.Errorf("notification %s with the context of %v, want %s with the session's", n.params, n.tag, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(srv.deletes) != 1 || srv.deletes[0].Get(headerSession) != "sess-1" {
		t.Errorf("DELETEs %v, want one for sess-1", srv.deletes)
	}
}

// A server without a standalone stream answers the GET with 405; the session goes on.
func TestHTTPNoStandaloneStream(t *testing.T) {
	srv := newRawHTTP(t, nil)
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Call(ctx, "echo", json.RawMessage(`{"a":1}`)); err != nil || string(res) != `{"a":1}` {
		t.Fatalf("Call = %s, %v", res, err)
	}
	select {
	case <-s.Done():
		t.Fatalf("the session ended: %v", s.Err())
	default:
	}
}

// An upstream that cannot be reached or refuses initialize is a Connect error naming it,
// without the credentials its URL may hold; a bad configuration is refused before any I/O.
func TestHTTPConnectErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down for maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx := testContext(t)
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/mcp?token=s3cret"
	_, err := Connect(ctx, Config{HTTP: &HTTP{URL: u}}, json.RawMessage(initParams))
	t.Logf("Connect: %v", err)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "down for maintenance") ||
		!strings.Contains(err.Error(), srv.Listener.Addr().String()+"/mcp") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Connect to a refusing server: %v", err)
	}
	for _, cfg := range []Config{
		{},
		{HTTP: &HTTP{URL: "ftp://example.com/mcp"}},
		{HTTP: &HTTP{URL: srv.URL}, Stdio: &Stdio{Command: child("raw")}},
		{Stdio: &Stdio{}},
	} {
		if _, err := Connect(ctx, cfg, json.RawMessage(initParams)); err == nil {
			t.Errorf("Connect(%+v) = nil error", cfg)
		}
	}
}
