package proxy

import (
	"context"
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// clientOptions gives the upstream client exactly the downstream client's capabilities, so
// the upstream asks for sampling, elicitation or roots only if the agent can answer.
func (l *link) clientOptions(caps *mcp.ClientCapabilities) *mcp.ClientOptions {
	opts := &mcp.ClientOptions{Logger: l.proxy.cfg.Logger, Capabilities: caps}
	if caps == nil {
		opts.Capabilities = &mcp.ClientCapabilities{}
	}
	return opts
}

// relay handles what an upstream sends to its client: every request and notification goes to
// the agent's session instead of the SDK client's own handlers.
func (u *upLink) relay(next mcp.MethodHandler) mcp.MethodHandler {
	l := u.link
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		params := req.GetParams()
		if isNil(params) {
			params = nil
		}
		if relayable(method) {
			defer u.order.done()
		}
		call := u.origin(ctx, params)
		switch p := params.(type) {
		case *mcp.CreateMessageParams:
			res, err := l.ss.CreateMessage(call, p)
			return res, passError(err)
		case *mcp.CreateMessageWithToolsParams:
			res, err := l.ss.CreateMessageWithTools(call, p)
			return res, passError(err)
		case *mcp.ElicitParams:
			res, err := l.ss.Elicit(call, p)
			return res, passError(err)
		case *mcp.ListRootsParams:
			res, err := l.ss.ListRoots(call, p)
			return res, passError(err)
		case *mcp.LoggingMessageParams:
			return nil, l.ss.Log(call, p)
		case *mcp.ProgressNotificationParams:
			return nil, l.ss.NotifyProgress(l.calls.byToken(call, p.ProgressToken), p)
		}
		switch method {
		case "notifications/resources/updated", "notifications/tools/list_changed",
			"notifications/prompts/list_changed", "notifications/resources/list_changed":
			return nil, l.notify(call, method, params)
		}
		return next(ctx, method, req)
	}
}

// notify sends a notification to this downstream session only. The SDK's broadcasting
// helpers (Server.ResourceUpdated) would reach every subscriber of every agent.
func (l *link) notify(ctx context.Context, method string, params mcp.Params) error {
	l.proxy.mu.Lock()
	send := l.proxy.send
	l.proxy.mu.Unlock()
	if send == nil {
		return fmt.Errorf("cannot relay %s: no sending handler", method)
	}
	req := &mcp.ServerRequest[mcp.Params]{Session: l.ss, Params: params}
	_, err := send(ctx, method, req)
	return err
}

// origin is the context to relay a message from this upstream in: that of the call the
// upstream sent it for, so it goes back on that call's stream. Over HTTP the message says
// which call (origin.go); untagged, it came on the upstream's own stream, outside any call,
// and goes on the agent's. Over stdio nothing says, and the newest call in flight is the best
// guess (exact when calls do not overlap).
func (u *upLink) origin(ctx context.Context, params mcp.Params) context.Context {
	if id, ok := takeOrigin(params); ok {
		return u.link.calls.byID(ctx, id)
	}
	if u.tagged.Load() {
		return ctx
	}
	return u.link.calls.latest(ctx)
}

// calls tracks the downstream requests a link is forwarding, so that what the upstream sends
// while serving one of them goes back on that request's stream.
type calls struct {
	mu     sync.Mutex
	next   uint64
	active map[uint64]call
}

type call struct {
	ctx   context.Context
	token any
}

func newCalls() *calls { return &calls{active: map[uint64]call{}} }

func (c *calls) begin(ctx context.Context, params mcp.Params) (id uint64, done func()) {
	var token any
	if p, ok := params.(interface{ GetProgressToken() any }); ok {
		token = p.GetProgressToken()
	}
	c.mu.Lock()
	c.next++
	id = c.next
	c.active[id] = call{ctx: ctx, token: token}
	c.mu.Unlock()
	return id, func() {
		c.mu.Lock()
		delete(c.active, id)
		c.mu.Unlock()
	}
}

// latest is the context of the newest call in flight, or fallback.
func (c *calls) latest(fallback context.Context) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best uint64
	for id := range c.active {
		best = max(best, id)
	}
	if best == 0 {
		return fallback
	}
	return c.active[best].ctx
}

// byID is the context of call id while it is in flight, or fallback.
func (c *calls) byID(fallback context.Context, id uint64) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.active[id]; ok {
		return cl.ctx
	}
	return fallback
}

func (c *calls) byToken(fallback context.Context, token any) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.active {
		if cl.token != nil && fmt.Sprint(cl.token) == fmt.Sprint(token) {
			return cl.ctx
		}
	}
	return fallback
}
