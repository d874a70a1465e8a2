package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Over stdio, notifications sent before a result are handled, in order and with the
// session's context, before Call returns it.
func TestStdioNotificationsBeforeResult(t *testing.T) {
	rec := newRecorder()
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{Stdio: &Stdio{Command: child("sdk")}, Handler: rec.handler()})
	for call := range 3 {
		params := fmt.Sprintf(`{"name":"notify","arguments":{"n":5},"_meta":{"progressToken":"c%d"}}`, call)
		if _, err := s.Call(tagged(ctx, call), "tools/call", json.RawMessage(params)); err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, g := range rec.notifications() {
			var p struct{ ProgressToken, Message string }
			_ = json.Unmarshal(g.params, &p)
			if p.ProgressToken == fmt.Sprintf("c%d", call) {
				msgs = append(msgs, p.Message)
			}
			if g.tag != "session" {
				t.Errorf("%s handled with the context of %v, not the session's", g.params, g.tag)
			}
		}
		if want := []string{"0", "1", "2", "3", "4"}; !reflect.DeepEqual(msgs, want) {
			t.Errorf("call %d returned after its notifications %q, want %q", call, msgs, want)
		}
	}
}

// A sampling request inside a call, and a roots request outside any call, reach Request and
// their answers reach the server.
func TestStdioServerRequests(t *testing.T) {
	rec := newRecorder()
	rec.answer = func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if method == "roots/list" {
			return json.RawMessage(`{"roots":[{"uri":"file:///agent/root"}]}`), nil
		}
		return json.RawMessage(`{"role":"assistant","model":"m","content":{"type":"text","text":"from the agent"}}`), nil
	}
	ctx := testContext(t)
	s := connect(t, tagged(ctx, "session"), Config{Stdio: &Stdio{Command: child("sdk")}, Handler: rec.handler()})
	if err := s.Notify(ctx, methodInitialized, nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"sample"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res), "sampled: from the agent") {
		t.Errorf("result %s lacks the sampling answer", res)
	}
	// The server reports the roots it got in a notification sent outside any call.
	rec.waitFor(t, "the roots report", func() bool {
		for _, g := range rec.notifications() {
			if strings.Contains(string(g.params), `"progressToken":"roots"`) {
				if !strings.Contains(string(g.params), `file:///agent/root`) {
					t.Fatalf("the server reported %s", g.params)
				}
				return true
			}
		}
		return false
	})
	methods := map[string]bool{}
	for _, g := range rec.serverRequests() {
		methods[g.method] = true
		if g.tag != "session" {
			t.Errorf("%s handled with the context of %v", g.method, g.tag)
		}
	}
	if !methods["roots/list"] || !methods["sampling/createMessage"] {
		t.Errorf("server requests %v, want roots/list and sampling/createMessage", methods)
	}
}

// Params reach the server as the agent wrote them, and results come back as the server
// wrote them.
func TestStdioBytes(t *testing.T) {
	ctx := testContext(t)
	s := connect(t, ctx, Config{Stdio: &Stdio{Command: child("raw")}})
	if got := string(s.InitializeResult()); got != rawInitResult {
		t.Errorf("initialize result %s, want %s", got, rawInitResult)
	}
	for _, params := range fidelityParams {
		res, err := s.Call(ctx, "echo", json.RawMessage(params))
		if err != nil {
			t.Fatal(err)
		}
		if string(res) != params {
			t.Errorf("the server got params %s, want %s", res, params)
		}
	}
	res, err := s.Call(ctx, "result", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != rawResult {
		t.Errorf("result %s, want %s", res, rawResult)
	}
	_, err = s.Call(ctx, "fail", nil)
	checkRawError(t, err)
}

// fidelityParams are params whose bytes must reach the server unchanged.
var fidelityParams = []string{
	`{"name":"t"}`,
	`{"name":"t","arguments":null}`,
	`{"arguments":{},"name":"t","x-unknown":{"b":false,"a":null},"_meta":{"progressToken":1}}`,
}

func checkRawError(t *testing.T, err error) {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("err = %v, want a *jsonrpc.Error", err)
	}
	var want jsonrpc.Error
	if err := json.Unmarshal([]byte(rawError), &want); err != nil {
		t.Fatal(err)
	}
	if werr.Code != want.Code || werr.Message != want.Message || string(werr.Data) != string(want.Data) {
		t.Errorf("error %d %q %s, want %d %q %s", werr.Code, werr.Message, werr.Data, want.Code, want.Message, want.Data)
	}
}

// Cancelling a call sends notifications/cancelled with its id.
func TestStdioCancel(t *testing.T) {
	rec := newRecorder()
	ctx := testContext(t)
	s := connect(t, ctx, Config{Stdio: &Stdio{Command: child("raw")}, Handler: rec.handler()})
	callCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Call(callCtx, "hang", json.RawMessage(`{}`))
		errc <- err
	}()
	var hanging struct{ ID json.RawMessage }
	rec.waitFor(t, "the call to reach the server", func() bool {
		for _, g := range rec.notifications() {
			if g.method == "test/hanging" {
				return json.Unmarshal(g.params, &hanging) == nil
			}
		}
		return false
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Call returned %v", err)
	}
	want := fmt.Sprintf(`{"requestId":%s,"reason":"context canceled"}`, hanging.ID)
	rec.waitFor(t, "notifications/cancelled", func() bool {
		for _, g := range rec.notifications() {
			if g.method == "test/saw/notifications/cancelled" {
				if string(g.params) != want {
					t.Fatalf("the server got cancelled %s, want %s", g.params, want)
				}
				return true
			}
		}
		return false
	})
}

// A child that exits ends the session with how it exited; calls in flight fail.
func TestStdioChildExit(t *testing.T) {
	ctx := testContext(t)
	s := connect(t, ctx, Config{Stdio: &Stdio{Command: child("sdk")}})
	_, err := s.Call(ctx, "tools/call", json.RawMessage(`{"name":"exit"}`))
	if !errors.Is(err, ErrSessionLost) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Call to a child that exits: %v, want ErrSessionLost with its exit status", err)
	}
	<-s.Done()
	if !errors.Is(s.Err(), ErrSessionLost) || !strings.Contains(s.Err().Error(), "exit status 3") {
		t.Errorf("Err = %v", s.Err())
	}
}

// A command that cannot start, or exits before it answers, is an error from Connect that
// names it and says how it ended; its stderr is logged.
func TestStdioCannotStart(t *testing.T) {
	ctx := testContext(t)
	const missing = "/nonexistent/osiris-no-such-server"
	_, err := Connect(ctx, Config{Stdio: &Stdio{Command: exec.Command(missing)}}, json.RawMessage(initParams))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Connect with a missing command: %v, want an error naming it", err)
	}
	var logs logBuffer
	cmd := child("die")
	_, err = Connect(ctx, Config{Stdio: &Stdio{Command: cmd}, Logger: newLogger(&logs)}, json.RawMessage(initParams))
	t.Logf("Connect: %v", err)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), cmd.Args[0]) {
		t.Errorf("Connect with a command that exits: %v, want its name and exit status", err)
	}
	// A child that is not a Go program exits without answering.
	sh := exec.Command("sh", "-c", "exit 3")
	_, err = Connect(ctx, Config{Stdio: &Stdio{Command: sh}}, json.RawMessage(initParams))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), `upstream sh:`) {
		t.Errorf("Connect with a command that exits at once: %v, want its name and exit status", err)
	}
	found := false
	for _, rec := range logs.records(t) {
		found = found || rec["line"] == "cannot start: no configuration"
	}
	if !found {
		t.Errorf("the child's stderr was not logged: %v", logs.records(t))
	}
}

// Close ends the child and leaves nothing running; its stderr lines are logged, bounded.
func TestStdioClose(t *testing.T) {
	ctx := testContext(t)
	var logs logBuffer
	cmd := child("raw")
	s := connect(t, ctx, Config{Stdio: &Stdio{Command: cmd}, Logger: newLogger(&logs)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Exited() {
		t.Fatalf("the child is still running after Close: %v", cmd.ProcessState)
	}
	<-s.Done()
	if s.Err() != nil {
		t.Errorf("Err after Close = %v", s.Err())
	}
	var lines []any
	for _, rec := range logs.records(t) {
		if rec["msg"] == "upstream stderr" {
			lines = append(lines, rec["line"])
			if l, _ := rec["line"].(string); len(l) > maxStderrLine || (len(l) == maxStderrLine) != (rec["truncated"] == true) {
				t.Errorf("a stderr line of %d bytes logged, truncated=%v", len(l), rec["truncated"])
			}
		}
	}
	if len(lines) != 2 || lines[0] != "raw child ready" {
		t.Errorf("stderr lines logged: %.80v", lines)
	}
}

// A message over MaxMessageBytes fails its call with the limit named; the session goes on.
func TestStdioMaxMessageBytes(t *testing.T) {
	ctx := testContext(t)
	s := connect(t, ctx, Config{Stdio: &Stdio{Command: child("raw")}, MaxMessageBytes: 1 << 10})
	if _, err := s.Call(ctx, "big", json.RawMessage(`{"n":2048}`)); err == nil || !strings.Contains(err.Error(), "1024 bytes (MaxMessageBytes)") {
		t.Errorf("a result over the bound: %v, want the limit named", err)
	}
	if res, err := s.Call(ctx, "big", json.RawMessage(`{"n":10}`)); err != nil || len(res) != len(`{"text":""}`)+10 {
		t.Errorf("a call after a refused message: %s, %v", res, err)
	}
}
