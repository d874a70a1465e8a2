// Package wire holds MCP requests and results as the peers wrote them. The gateway decodes
// only what it acts on (the method, a tool's name and arguments, a resource's URI, isError and
// the text of an error) and adds its own _meta keys by splicing bytes (splice.go), so what it
// does not need to change reaches the other side unchanged: unknown fields, null against
// absent, false against absent, member order.
package wire

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
)

// Call is one request from an agent on its way to an upstream.
type Call struct {
	Method string
	// Params are the request's params as the agent wrote them; nil when it sent none. An
	// Around may change them (SetMeta) before it forwards the call.
	Params json.RawMessage
	// Session is the agent session's id: the Mcp-Session-Id over HTTP, a generated one over
	// stdio. Audit, telemetry and the session service all key on it.
	Session string
	// Principal names who called, "" while the gateway knows only one shared token.
	Principal string

	parsed *callFields
}

type callFields struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	URI       string          `json:"uri"`
	Meta      struct {
		ProgressToken json.RawMessage `json:"progressToken"`
	} `json:"_meta"`
}

func (c *Call) fields() *callFields {
	if c.parsed == nil {
		c.parsed = &callFields{}
		if len(c.Params) > 0 {
			_ = json.Unmarshal(c.Params, c.parsed) // a field of the wrong type reads as absent
		}
	}
	return c.parsed
}

// Name is params.name (tools/call, prompts/get), or "".
func (c *Call) Name() string { return c.fields().Name }

// Arguments is params.arguments as sent, nil when absent.
func (c *Call) Arguments() json.RawMessage { return c.fields().Arguments }

// URI is params.uri (resources/read, resources/subscribe), or "".
func (c *Call) URI() string { return c.fields().URI }

// ProgressToken is params._meta.progressToken as sent, nil when absent.
func (c *Call) ProgressToken() json.RawMessage { return c.fields().Meta.ProgressToken }

// SetMeta sets params._meta.key, keeping every other byte of the params.
func (c *Call) SetMeta(key string, value any) error {
	p, err := SetMeta(c.Params, key, value)
	if err != nil {
		return err
	}
	c.Params, c.parsed = p, nil
	return nil
}

// Reply is an upstream's result, as it wrote it.
type Reply struct {
	Result json.RawMessage
}

type replyFields struct {
	IsError bool `json:"isError"`
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
}

// IsError reports a tools/call result with isError true. It reads that member alone.
func (r *Reply) IsError() bool {
	v, ok := Member(r.Result, "isError")
	return ok && string(v) == "true"
}

// ErrorText is the text content of a result with isError, joined by newlines; "" otherwise.
func (r *Reply) ErrorText() string {
	var f replyFields
	if json.Unmarshal(r.Result, &f) != nil || !f.IsError {
		return ""
	}
	var parts []string
	for _, c := range f.Content {
		if c.Type == "text" && c.Text != "" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// WithMeta returns a copy of the reply with result._meta.key set; the original is unchanged,
// so a result shared by several callers can be marked for each.
func (r *Reply) WithMeta(key string, value any) (*Reply, error) {
	res, err := SetMeta(r.Result, key, value)
	if err != nil {
		return nil, err
	}
	return &Reply{Result: res}, nil
}

// Forward sends the call upstream and returns its reply. A JSON-RPC error from the upstream
// is returned as the *jsonrpc.Error it sent, so its code, message and data pass unchanged.
type Forward func(ctx context.Context) (*Reply, error)

// Around wraps every forwarded call; the gateway's fan-out (audit, telemetry, session, cache,
// built-in tools) plugs in here. It may change call.Params before forward, answer without
// forwarding, or mark the reply.
type Around func(ctx context.Context, call *Call, forward Forward) (*Reply, error)

// Chain runs inner inside outer.
func Chain(outer, inner Around) Around {
	return func(ctx context.Context, call *Call, forward Forward) (*Reply, error) {
		return outer(ctx, call, func(ctx context.Context) (*Reply, error) {
			return inner(ctx, call, forward)
		})
	}
}

// Listeners are the agent requests that receive what an upstream sends while it serves one
// call: its progress, log lines and requests. A call forwarded for one request has that
// request alone; a call that several identical requests share (the cache coalesces them) runs
// in a context of its own (Detach), and each waiting request Joins it.
type Listeners struct {
	mu          sync.Mutex
	joined      []context.Context
	interactive bool
}

type listenersKey struct{}

// Detach returns a context for a call run on behalf of the requests that Join it: it keeps
// ctx's values but not its cancellation or deadline.
func Detach(ctx context.Context) (context.Context, *Listeners) {
	l := &Listeners{}
	return context.WithValue(context.WithoutCancel(ctx), listenersKey{}, l), l
}

// Join adds a waiting request (its context) to the listeners until leave is called.
func (l *Listeners) Join(ctx context.Context) (leave func()) {
	l.mu.Lock()
	l.joined = append(l.joined, ctx)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, c := range l.joined {
			if c == ctx {
				l.joined = append(l.joined[:i], l.joined[i+1:]...)
				return
			}
		}
	}
}

// Interactive reports whether the upstream asked the agent something (sampling, elicitation,
// roots) while serving the call: its result then depends on that agent's answers.
func (l *Listeners) Interactive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.interactive
}

// Audience is who receives what the upstream sends while serving the call running in ctx:
// the requests joined to it if it was detached, else ctx itself. interactive marks the call
// as having asked the agent something.
func Audience(ctx context.Context, interactive bool) []context.Context {
	l, ok := ctx.Value(listenersKey{}).(*Listeners)
	if !ok {
		return []context.Context{ctx}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.interactive = l.interactive || interactive
	return append([]context.Context(nil), l.joined...)
}
