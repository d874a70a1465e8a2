package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/osirisplane/osiris/gateway/internal/upstream"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// A shared upstream has one session that every agent uses, for a server the operator declares
// stateless (its answers depend on the request alone). It costs one child process instead of
// one per agent (about 66 MB for a Node server), and what an agent gives up is exactly this:
//
//   - the gateway initializes the session itself, with no client capabilities: the server
//     cannot ask any agent for sampling, elicitation or roots;
//   - what the server sends inside a call reaches that call's agent: over HTTP exactly (the
//     call's response stream); over stdio, progress by a token the gateway assigns to each
//     call (so two agents' tokens cannot collide), while log lines inside a call are dropped,
//     since nothing says whose they are;
//   - outside any call, list changes go to every agent, resources/updated to the agents that
//     subscribed to the URI, and anything else is dropped (requests refused);
//   - logging/setLevel is answered by the gateway and not forwarded: one agent would set the
//     level of every other's log lines.
type sharedUp struct {
	p  *Proxy
	up Upstream

	dialing sync.Mutex // one initialisation at a time
	mu      sync.Mutex
	s       *upstream.Session
	stdio   bool
	caps    map[string]json.RawMessage
	init    json.RawMessage
	links   map[*link]bool
	subs    map[string]map[*link]bool // resource URI -> the agents subscribed to it
	tokens  *calls                    // stdio: the gateway's progress tokens -> their calls
	seq     atomic.Uint64
}

func newShared(p *Proxy, up Upstream) *sharedUp {
	return &sharedUp{p: p, up: up, links: map[*link]bool{}, subs: map[string]map[*link]bool{}, tokens: newCalls()}
}

func (sh *sharedUp) has(capability string) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v, ok := sh.caps[capability]
	return ok && string(v) != "null"
}

func (sh *sharedUp) initializeResult() json.RawMessage {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.init
}

// join opens the session if it is not open and adds the agent.
func (sh *sharedUp) join(ctx context.Context, l *link) error {
	if _, err := sh.session(ctx, l.version); err != nil {
		return err
	}
	sh.mu.Lock()
	sh.links[l] = true
	sh.mu.Unlock()
	return nil
}

func (sh *sharedUp) leave(l *link) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.links, l)
	for uri, ls := range sh.subs {
		delete(ls, l)
		if len(ls) == 0 {
			delete(sh.subs, uri)
		}
	}
}

// session is the open session, opened again if it was lost.
func (sh *sharedUp) session(ctx context.Context, version string) (*upstream.Session, error) {
	if s := sh.live(); s != nil {
		return s, nil
	}
	sh.dialing.Lock()
	defer sh.dialing.Unlock()
	if s := sh.live(); s != nil {
		return s, nil
	}
	params, _ := json.Marshal(map[string]any{"protocolVersion": version, "capabilities": map[string]any{},
		"clientInfo": map[string]string{"name": "osiris-gateway", "version": sh.p.cfg.Version}})
	cfg := sh.up.Config()
	cfg.Logger = sh.p.cfg.Logger.With("upstream", sh.up.Name, "session", "shared")
	cfg.Handler = upstream.Handler{Request: sh.relayRequest, Notify: sh.relayNotify}
	s, err := upstream.Connect(context.WithoutCancel(ctx), cfg, params)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(s.InitializeResult())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Listen(ctx)
	if err := s.Notify(ctx, "notifications/initialized", nil); err != nil {
		s.Close()
		return nil, err
	}
	sh.mu.Lock()
	sh.s, sh.caps, sh.init, sh.stdio = s, caps, s.InitializeResult(), cfg.Stdio != nil
	sh.mu.Unlock()
	sh.p.cfg.Logger.Info("shared upstream session opened", "upstream", sh.up.Name)
	return s, nil
}

func (sh *sharedUp) live() *upstream.Session {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.s == nil {
		return nil
	}
	select {
	case <-sh.s.Done():
		return nil
	default:
		return sh.s
	}
}

func (sh *sharedUp) close() {
	sh.mu.Lock()
	s := sh.s
	sh.s = nil
	sh.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

func (sh *sharedUp) call(ctx context.Context, l *link, method string, params json.RawMessage) (*wire.Reply, error) {
	if method == "logging/setLevel" {
		return &wire.Reply{Result: json.RawMessage("{}")}, nil
	}
	var uri string
	if method == "resources/unsubscribe" {
		c := wire.Call{Params: params}
		uri = c.URI()
		if sh.unsubscribe(uri, l) {
			return &wire.Reply{Result: json.RawMessage("{}")}, nil // others still want the updates
		}
	}
	s, err := sh.session(ctx, l.version)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", sh.up.Name, err)
	}
	if sh.stdio {
		c := wire.Call{Params: params}
		if c.ProgressToken() != nil {
			token := fmt.Sprintf("osiris-%d", sh.seq.Add(1))
			if err := c.SetMeta("progressToken", token); err != nil {
				return nil, err
			}
			params = c.Params
			done := sh.tokens.begin(ctx, quote(token))
			defer done()
		}
	}
	reply, err := sh.p.timed(ctx, s, l.version, method, params)
	if err == nil && method == "resources/subscribe" {
		c := wire.Call{Params: params}
		sh.subscribe(c.URI(), l)
	}
	return reply, err
}

func (sh *sharedUp) subscribe(uri string, l *link) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.subs[uri] == nil {
		sh.subs[uri] = map[*link]bool{}
	}
	sh.subs[uri][l] = true
}

// unsubscribe removes the agent's subscription and reports whether others remain.
func (sh *sharedUp) unsubscribe(uri string, l *link) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.subs[uri], l)
	if len(sh.subs[uri]) > 0 {
		return true
	}
	delete(sh.subs, uri)
	return false
}

func (sh *sharedUp) relayNotify(ctx context.Context, method string, params json.RawMessage) {
	if _, ok := sinkFrom(ctx); ok {
		deliver(wire.Audience(ctx, false), method, params)
		return
	}
	if method == "notifications/progress" {
		if c := sh.tokens.byToken(progressToken(params)); c != nil {
			deliver(wire.Audience(c, false), method, params)
		}
		return
	}
	var to []*link
	sh.mu.Lock()
	switch {
	case strings.HasSuffix(method, "/list_changed"):
		for l := range sh.links {
			to = append(to, l)
		}
	case method == "notifications/resources/updated":
		c := wire.Call{Params: params}
		for l := range sh.subs[c.URI()] {
			to = append(to, l)
		}
	}
	sh.mu.Unlock()
	if to == nil {
		sh.p.cfg.Logger.Debug("shared upstream's message outside any call dropped", "upstream", sh.up.Name, "method", method)
	}
	for _, l := range to {
		if !l.hold(method, params) {
			l.notify(l.bg, method, params)
		}
	}
}

func (sh *sharedUp) relayRequest(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if method == "ping" {
		return json.RawMessage("{}"), nil
	}
	// The session is every agent's: none of them is asked on the others' behalf, even when
	// the request came inside one agent's call.
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
		Message: fmt.Sprintf("%s: the gateway's shared session with %s has no agent to ask", method, sh.up.Name)}
}
