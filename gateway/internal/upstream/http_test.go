package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Notifications a tool sends before its result reach Notify with that call's context, and
// before Call returns, for many calls at once on one session.
func TestHTTPNotificationsReachTheirCall(t *testing.T) {
	srv := newSDKHTTP(t)
	rec := newRecorder()
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{HTTP: &HTTP{URL: srv.url}, Handler: rec.handler()})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	const calls, notes = 20, 5
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			params := fmt.Sprintf(`{"name":"notify","arguments":{"n":%d},"_meta":{"progressToken":%d}}`, notes, i)
			if _, err := s.Call(tagged(ctx, i), "tools/call", json.RawMessage(params)); err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			n := 0
			for _, g := range rec.notifications() {
				var p struct{ ProgressToken any }
				if err := json.Unmarshal(g.params, &p); err != nil {
					t.Errorf("call %d: %s: %v", i, g.params, err)
				}
				if p.ProgressToken == float64(i) {
					n++
					if g.tag != i {
						t.Errorf("call %d: its progress %s was handled with the context of %v", i, g.params, g.tag)
					}
				}
			}
			if n != notes {
				t.Errorf("call %d returned after %d of its %d notifications", i, n, notes)
			}
		})
	}
	wg.Wait()
}

// A sampling request sent inside a call reaches Request with that call's context, and the
// answer reaches the server.
func TestHTTPSamplingInsideCall(t *testing.T) {
	srv := newSDKHTTP(t)
	rec := newRecorder()
	rec.answer = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(fmt.Sprintf(`{"role":"assistant","model":"m","content":{"type":"text","text":"answer %v"}}`, ctx.Value(tagKey{}))), nil
	}
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{HTTP: &HTTP{URL: srv.url}, Handler: rec.handler()})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			res, err := s.Call(tagged(ctx, i), "tools/call", json.RawMessage(`{"name":"sample"}`))
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if want := fmt.Sprintf("sampled: answer %d", i); !strings.Contains(string(res), want) {
				t.Errorf("call %d: result %s, want it to contain %q", i, res, want)
			}
		})
	}
	wg.Wait()
	for _, g := range rec.serverRequests() {
		if g.method != "sampling/createMessage" {
			t.Errorf("server request %s, want sampling/createMessage", g.method)
		}
	}
}

// What the server sends outside any call arrives on the standalone GET stream and is handled
// with the session's context; a request there is answered.
func TestHTTPOutOfCall(t *testing.T) {
	srv := newSDKHTTP(t)
	rec := newRecorder()
	rec.answer = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(`{"roots":[{"uri":"file:///agent/root","name":"r"}]}`), nil
	}
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{HTTP: &HTTP{URL: srv.url}, Handler: rec.handler()})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	<-srv.gets
	ss := srv.session(t)
	// The server rejects messages until it has registered the GET: retry until it has.
	var roots *mcp.ListRootsResult
	for {
		var err error
		if roots, err = ss.ListRoots(ctx, nil); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("ListRoots: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(roots.Roots) != 1 || roots.Roots[0].URI != "file:///agent/root" {
		t.Errorf("the server got roots %+v", roots.Roots)
	}
	if err := ss.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: "out", Message: "outside"}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "the notification", func() bool { return len(rec.notifications()) > 0 })
	for _, g := range append(rec.serverRequests(), rec.notifications()...) {
		if g.tag != "session" {
			t.Errorf("%s was handled with the context of %v, not the session's", g.method, g.tag)
		}
	}
}

// A JSON-RPC error from the server is returned as the *jsonrpc.Error it sent.
func TestHTTPJSONRPCError(t *testing.T) {
	srv := newSDKHTTP(t)
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	_, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"nope"}`))
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams || !strings.Contains(werr.Message, "nope") {
		t.Fatalf("err = %#v, want a *jsonrpc.Error with code %d about the tool", err, jsonrpc.CodeInvalidParams)
	}
}

// A session the server dropped answers 404: calls fail with ErrSessionLost and Done closes.
func TestHTTPSessionLost(t *testing.T) {
	srv := newSDKHTTP(t)
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.session(t).Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Call(ctx, "tools/list", nil)
	if !errors.Is(err, ErrSessionLost) {
		t.Fatalf("Call after the server dropped the session: %v, want ErrSessionLost", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done is open after the session was lost")
	}
	if !errors.Is(s.Err(), ErrSessionLost) {
		t.Errorf("Err = %v", s.Err())
	}
}

// Close deletes the session on the server and stops the GET stream.
func TestHTTPClose(t *testing.T) {
	srv := newSDKHTTP(t)
	ctx := testContext(t)
	s := connect(t, ctx, Config{HTTP: &HTTP{URL: srv.url}})
	s.Listen(ctx)
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	<-srv.gets
	sid := srv.session(t).ID()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done is open after Close")
	}
	if s.Err() != nil {
		t.Errorf("Err after Close = %v", s.Err())
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.deletes) != 1 || srv.deletes[0] != sid {
		t.Errorf("DELETEs with session ids %q, want one with %q", srv.deletes, sid)
	}
	if _, err := s.Call(ctx, "tools/list", nil); !errors.Is(err, ErrSessionLost) {
		t.Errorf("Call after Close: %v, want ErrSessionLost", err)
	}
}
