package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// stdioGrace is how long a child has to exit once its stdin is closed, and again after
	// SIGTERM, before it is killed: the spec's shutdown sequence, which the SDK's
	// CommandTransport runs.
	stdioGrace = 2 * time.Second
	// stdioWaitDelay bounds the wait for a child's stderr to close once it has exited (a
	// grandchild may hold it open).
	stdioWaitDelay = time.Second
)

// stdio is a session with a child process over its stdin and stdout. One goroutine reads
// everything the child writes: responses complete their calls, notifications are handled
// in the order they came, requests are answered. Nothing on the wire says which call a
// notification or a request belongs to, so they are handled with the session's context.
type stdio struct {
	s      *Session
	cmd    *exec.Cmd
	conn   mcp.Connection
	stderr *lineLog // nil when the caller set the command's Stderr

	mu       sync.Mutex
	pending  map[jsonrpc.ID]chan *jsonrpc.Response
	closing  bool
	readDone chan struct{}
}

func commandName(cmd *exec.Cmd) (string, error) {
	switch {
	case cmd == nil:
		return "", errors.New("upstream: Stdio.Command is nil")
	case len(cmd.Args) > 0:
		return cmd.Args[0], nil // the name as configured, without arguments that may be secret
	}
	return cmd.Path, nil
}

func startStdio(ctx context.Context, s *Session, cmd *exec.Cmd) (*stdio, error) {
	t := &stdio{s: s, cmd: cmd, pending: map[jsonrpc.ID]chan *jsonrpc.Response{}, readDone: make(chan struct{})}
	if cmd.Stderr == nil {
		t.stderr = &lineLog{log: s.log}
		cmd.Stderr = t.stderr
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = stdioWaitDelay
	}
	conn, err := (&mcp.CommandTransport{Command: cmd, TerminateDuration: stdioGrace}).Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("upstream: cannot start command %q: %w", s.name, err)
	}
	t.conn = conn
	go t.read()
	return t, nil
}

func (t *stdio) read() {
	defer close(t.readDone)
	for {
		msg, err := t.conn.Read(context.Background())
		if err != nil {
			t.exited(err)
			return
		}
		if err := t.s.tooLarge(msg); err != nil {
			t.refuse(msg, err)
			continue
		}
		switch m := msg.(type) {
		case *jsonrpc.Response:
			t.complete(m)
		case *jsonrpc.Request:
			t.s.deliver(t.s.ctx, m)
		}
	}
}

// refuse answers for a message too large to pass on: its call fails, its request gets an
// error, a notification is dropped.
func (t *stdio) refuse(msg jsonrpc.Message, err error) {
	t.s.log.Warn("upstream: message refused", "err", err)
	switch m := msg.(type) {
	case *jsonrpc.Response:
		t.complete(&jsonrpc.Response{ID: m.ID, Error: err})
	case *jsonrpc.Request:
		if m.IsCall() {
			t.s.spawn(func() {
				_ = t.send(t.s.ctx, &jsonrpc.Response{ID: m.ID, Error: &jsonrpc.Error{
					Code: jsonrpc.CodeInvalidRequest, Message: err.Error()}})
			})
		}
	}
}

func (t *stdio) complete(resp *jsonrpc.Response) {
	t.mu.Lock()
	ch, ok := t.pending[resp.ID]
	delete(t.pending, resp.ID)
	t.mu.Unlock()
	if !ok { // its call was cancelled, or the server answered a request never sent
		t.s.log.Debug("upstream: response to no pending call dropped", "id", resp.ID.Raw())
		return
	}
	ch <- resp
}

// exited ends the session when the child stopped writing, unless Close is ending it.
func (t *stdio) exited(readErr error) {
	t.mu.Lock()
	closing := t.closing
	t.mu.Unlock()
	if closing {
		return
	}
	_ = t.conn.Close() // waits for the child (ending it if it only closed its stdout)
	t.flushStderr()
	how := "exited"
	if st := t.cmd.ProcessState; st != nil {
		how = "exited: " + st.String()
	}
	if !errors.Is(readErr, io.EOF) {
		how = fmt.Sprintf("wrote what is not JSON-RPC (%v) and was stopped; it %s", readErr, how)
	}
	t.s.end(fmt.Errorf("upstream %s: %w: the child %s", t.s.name, ErrSessionLost, how))
}

func (t *stdio) call(ctx context.Context, req *jsonrpc.Request) (*jsonrpc.Response, error) {
	ch := make(chan *jsonrpc.Response, 1)
	t.mu.Lock()
	t.pending[req.ID] = ch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.pending, req.ID)
		t.mu.Unlock()
	}()
	if err := t.send(ctx, req); err != nil {
		if ctx.Err() == nil { // the child has likely gone: give the reader a moment to say how
			select {
			case <-t.s.done:
				return nil, t.s.lost()
			case <-time.After(stdioGrace):
			}
		}
		return nil, err
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.s.done:
		return nil, t.s.lost()
	}
}

func (t *stdio) send(ctx context.Context, msg jsonrpc.Message) error {
	if err := t.conn.Write(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("upstream %s: writing to the child: %w", t.s.name, err)
	}
	return nil
}

func (t *stdio) close() error {
	t.mu.Lock()
	t.closing = true
	t.mu.Unlock()
	err := t.conn.Close()
	<-t.readDone
	t.flushStderr()
	if err != nil {
		return fmt.Errorf("upstream %s: the child did not exit cleanly: %w", t.s.name, err)
	}
	return nil
}

func (t *stdio) flushStderr() {
	if t.stderr != nil {
		t.stderr.flush()
	}
}
