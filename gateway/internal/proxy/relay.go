package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// What an upstream sends to its client (log lines, progress, resource updates, list changes,
// sampling, elicitation and roots requests, and whatever else it sends) goes to the agent
// unchanged, on the stream of the agent request it belongs to:
//
//   - over streamable HTTP the upstream package hands over what came on a call's response
//     stream with that call's context, which carries the agent request (a sink); what came on
//     the upstream's own GET stream comes without one and goes on the agent's own stream;
//   - over stdio nothing says which call a message is for: progress names its call by its
//     token; anything else goes to the newest call in flight (exact when calls do not
//     overlap), or on the agent's own stream when none is;
//   - a call that several identical agent requests share (cache coalescing) reaches all of
//     them (wire.Audience), progress under each one's own token; a request goes to the first
//     that still waits.
//
// Before the agent has finished initializing, what comes outside any call is held (link.hold).

// sink is the agent request a forwarded call serves: its session, its context (for the SDK,
// the stream it came on) and its progress token.
type sink struct {
	link  *link
	reqID string // the request's JSON-RPC id as sent: its response stream's name
	token json.RawMessage
}

type sinkKey struct{}

func withSink(ctx context.Context, l *link, reqID string, token json.RawMessage) context.Context {
	return context.WithValue(ctx, sinkKey{}, sink{link: l, reqID: reqID, token: token})
}

func sinkFrom(ctx context.Context) (sink, bool) {
	s, ok := ctx.Value(sinkKey{}).(sink)
	return s, ok
}

// audience is the agent requests a message from this upstream belongs to; none means it was
// sent outside any call.
func (u *upLink) audience(ctx context.Context, method string, params json.RawMessage, interactive bool) []context.Context {
	if _, ok := sinkFrom(ctx); ok {
		return wire.Audience(ctx, interactive)
	}
	if !u.isStdio() {
		return nil
	}
	if method == "notifications/progress" {
		if c := u.link.calls.byToken(progressToken(params)); c != nil {
			return wire.Audience(c, interactive)
		}
		return nil
	}
	if c := u.link.calls.latest(); c != nil {
		return wire.Audience(c, interactive)
	}
	return nil
}

func (u *upLink) relayNotify(ctx context.Context, method string, params json.RawMessage) {
	l := u.link
	to := u.audience(ctx, method, params, false)
	if len(to) == 0 {
		if !l.hold(method, params) {
			l.notify(l.bg, method, params)
		}
		return
	}
	deliver(to, method, params)
}

// deliver sends a notification to each agent request in to, progress under each one's own
// token.
func deliver(to []context.Context, method string, params json.RawMessage) {
	for _, t := range to {
		s, ok := sinkFrom(t)
		if !ok {
			continue
		}
		p := params
		if method == "notifications/progress" {
			if s.token == nil {
				continue // that request asked for no progress
			}
			if !bytes.Equal(progressToken(params), s.token) {
				var err error
				if p, err = wire.SetMember(params, "progressToken", s.token); err != nil {
					continue
				}
			}
		}
		s.link.notify(t, method, p)
	}
}

func (u *upLink) relayRequest(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	l := u.link
	if method == "ping" {
		return json.RawMessage("{}"), nil // the gateway is the upstream's client: it answers
	}
	for _, t := range u.audience(ctx, method, params, true) {
		if s, ok := sinkFrom(t); ok && t.Err() == nil {
			return s.link.request(t, method, params)
		}
	}
	l.awaitReady(ctx)
	return l.request(l.bg, method, params)
}

func progressToken(params json.RawMessage) json.RawMessage {
	t, _ := wire.Member(params, "progressToken")
	return t
}

// calls tracks the agent requests a link is forwarding, for upstreams whose messages do not
// say which request they belong to.
type calls struct {
	mu     sync.Mutex
	next   uint64
	active map[uint64]active
}

type active struct {
	ctx   context.Context
	token json.RawMessage
}

func newCalls() *calls { return &calls{active: map[uint64]active{}} }

func (c *calls) begin(ctx context.Context, token json.RawMessage) (done func()) {
	c.mu.Lock()
	c.next++
	id := c.next
	c.active[id] = active{ctx: ctx, token: token}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.active, id)
		c.mu.Unlock()
	}
}

// latest is the context of the newest call in flight, or nil.
func (c *calls) latest() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best uint64
	for id := range c.active {
		best = max(best, id)
	}
	if best == 0 {
		return nil
	}
	return c.active[best].ctx
}

// byToken is the context of the call in flight with this progress token, or nil.
func (c *calls) byToken(token json.RawMessage) context.Context {
	if token == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.active {
		if bytes.Equal(a.token, token) {
			return a.ctx
		}
	}
	return nil
}
