package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/yosida95/uritemplate/v3"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// With several upstreams, tool and prompt names are prefixed "NAME_", lists are merged, and
// each request goes to the upstream that owns its name, URI or task; a method that only some
// upstreams offer (a capability such as logging, resources or tasks) goes to those. Upstream
// names cannot contain "_" (the gateway's configuration refuses them), so the first "_" of a
// prefixed name always names its upstream: two upstreams can never expose the same name.
// Only the members the gateway routes on are rewritten (a name, a prefix); every other byte of
// an item passes unchanged.

// maxPages bounds how many pages of one upstream's list are merged into one reply.
const maxPages = 100

// maxRoutes bounds the URIs and task ids a session remembers the owner of.
const maxRoutes = 100_000

// Rejection is a request the gateway refuses itself (no upstream owns the name); the audit
// fan-out records it as tool_call_rejected.
type Rejection struct{ Err *jsonrpc.Error }

func (r Rejection) Error() string { return r.Err.Error() }
func (r Rejection) Unwrap() error { return r.Err }

func reject(format string, args ...any) error {
	return Rejection{&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}}
}

// routes remembers which upstream listed which resource URI and template, and which started
// which task.
type routes struct {
	mu        sync.Mutex
	resources map[string]*upLink
	templates []template
	tasks     map[string]*upLink
}

type template struct {
	t  *uritemplate.Template
	up *upLink
}

func newRoutes() *routes {
	return &routes{resources: map[string]*upLink{}, tasks: map[string]*upLink{}}
}

func (l *link) byPrefix(name string) (*upLink, string) {
	for _, u := range l.ups {
		if rest, ok := strings.CutPrefix(name, u.prefix); ok && rest != "" {
			return u, rest
		}
	}
	return nil, ""
}

// offering is the upstreams that offer a capability, in configuration order.
func (l *link) offering(capability string) []*upLink {
	var out []*upLink
	for _, u := range l.ups {
		if u.has(capability) {
			out = append(out, u)
		}
	}
	return out
}

// owners lists the upstreams that may serve uri: the one that listed it, or whose template
// matches it; when none is known (the agent never listed), every upstream that serves
// resources, in order.
func (l *link) owners(uri string) []*upLink {
	l.routes.mu.Lock()
	u := l.routes.resources[uri]
	var matched *upLink
	for _, t := range l.routes.templates {
		if matched == nil && t.t.Regexp().MatchString(uri) {
			matched = t.up
		}
	}
	l.routes.mu.Unlock()
	switch {
	case u != nil:
		return []*upLink{u}
	case matched != nil:
		return []*upLink{matched}
	}
	if out := l.offering("resources"); len(out) > 0 {
		return out
	}
	return l.ups[:1]
}

func (l *link) route(ctx context.Context, call *wire.Call) (*wire.Reply, error) {
	switch call.Method {
	case "tools/call", "prompts/get":
		u, name := l.byPrefix(call.Name())
		if u == nil {
			kind := strings.TrimSuffix(strings.SplitN(call.Method, "/", 2)[0], "s")
			return nil, reject("unknown %s %q: names are prefixed with their upstream's name", kind, call.Name())
		}
		params, err := wire.SetMember(call.Params, "name", quote(name))
		if err != nil {
			return nil, reject("%s params: %v", call.Method, err)
		}
		reply, err := u.call(ctx, call.Method, params)
		if err == nil {
			l.rememberTask(u, reply.Result)
		}
		return reply, err
	case "completion/complete":
		return l.complete(ctx, call)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		var err error
		for _, u := range l.owners(call.URI()) {
			var reply *wire.Reply
			if reply, err = u.call(ctx, call.Method, call.Params); err == nil {
				return reply, nil
			}
		}
		return nil, err
	case "tools/list":
		return l.merge(ctx, call, "tools", "tools", func(u *upLink, item json.RawMessage) (json.RawMessage, error) { return prefixed(u, item) })
	case "prompts/list":
		return l.merge(ctx, call, "prompts", "prompts", func(u *upLink, item json.RawMessage) (json.RawMessage, error) { return prefixed(u, item) })
	case "resources/list":
		return l.merge(ctx, call, "resources", "resources", func(u *upLink, item json.RawMessage) (json.RawMessage, error) {
			var r struct{ URI string }
			if json.Unmarshal(item, &r) == nil {
				l.remember(l.routes.resources, r.URI, u)
			}
			return item, nil
		})
	case "resources/templates/list":
		var ts []template
		reply, err := l.merge(ctx, call, "resources", "resourceTemplates", func(u *upLink, item json.RawMessage) (json.RawMessage, error) {
			var t struct{ URITemplate string }
			if json.Unmarshal(item, &t) == nil && len(ts) < maxRoutes {
				if parsed, err := uritemplate.New(t.URITemplate); err == nil {
					ts = append(ts, template{parsed, u})
				}
			}
			return item, nil
		})
		if err == nil {
			l.routes.mu.Lock()
			l.routes.templates = ts
			l.routes.mu.Unlock()
		}
		return reply, err
	case "tasks/list":
		return l.merge(ctx, call, "tasks", "tasks", func(u *upLink, item json.RawMessage) (json.RawMessage, error) {
			var t struct{ TaskID string }
			if json.Unmarshal(item, &t) == nil {
				l.remember(l.routes.tasks, t.TaskID, u)
			}
			return item, nil
		})
	case "logging/setLevel":
		return l.everyOffering(ctx, call, "logging")
	}
	if strings.HasPrefix(call.Method, "tasks/") {
		var p struct{ TaskID string }
		json.Unmarshal(call.Params, &p)
		l.routes.mu.Lock()
		u := l.routes.tasks[p.TaskID]
		l.routes.mu.Unlock()
		if u == nil {
			if offering := l.offering("tasks"); len(offering) > 0 {
				u = offering[0]
			}
		}
		if u != nil {
			return u.call(ctx, call.Method, call.Params)
		}
	}
	// A method the gateway does not know goes to the first upstream.
	return l.ups[0].call(ctx, call.Method, call.Params)
}

// complete routes completion/complete by its reference: a prompt by its prefixed name, a
// resource template by its URI.
func (l *link) complete(ctx context.Context, call *wire.Call) (*wire.Reply, error) {
	ref, _ := wire.Member(call.Params, "ref")
	var r struct{ Type, Name, URI string }
	json.Unmarshal(ref, &r)
	if r.Type != "ref/prompt" {
		return l.owners(r.URI)[0].call(ctx, call.Method, call.Params)
	}
	u, name := l.byPrefix(r.Name)
	if u == nil {
		return nil, reject("unknown prompt %q", r.Name)
	}
	ref, err := wire.SetMember(ref, "name", quote(name))
	if err != nil {
		return nil, reject("completion/complete ref: %v", err)
	}
	params, err := wire.SetMember(call.Params, "ref", ref)
	if err != nil {
		return nil, reject("completion/complete params: %v", err)
	}
	return u.call(ctx, call.Method, params)
}

// everyOffering sends the request to every upstream that offers the capability and answers
// {} (with no upstream offering it, too: the gateway advertises what any upstream offers).
func (l *link) everyOffering(ctx context.Context, call *wire.Call, capability string) (*wire.Reply, error) {
	for _, u := range l.offering(capability) {
		if _, err := u.call(ctx, call.Method, call.Params); err != nil {
			return nil, fmt.Errorf("upstream %s: %w", u.up.Name, err)
		}
	}
	return &wire.Reply{Result: json.RawMessage("{}")}, nil
}

// merge lists key from every upstream offering capability, following cursors, and answers
// one page with every item, each passed through edit.
func (l *link) merge(ctx context.Context, call *wire.Call, capability, key string, edit func(*upLink, json.RawMessage) (json.RawMessage, error)) (*wire.Reply, error) {
	items := []json.RawMessage{}
	for _, u := range l.offering(capability) {
		cursor := ""
		for range maxPages {
			params := call.Params
			if cursor != "" {
				var err error
				if params, err = wire.SetMember(call.Params, "cursor", quote(cursor)); err != nil {
					return nil, reject("%s params: %v", call.Method, err)
				}
			} else if params != nil {
				params, _ = wire.DeleteMember(params, "cursor")
			}
			reply, err := u.call(ctx, call.Method, params)
			if err != nil {
				return nil, fmt.Errorf("upstream %s: %w", u.up.Name, err)
			}
			page := map[string]json.RawMessage{}
			if err := json.Unmarshal(reply.Result, &page); err != nil {
				return nil, fmt.Errorf("upstream %s: %s result: %w", u.up.Name, call.Method, err)
			}
			var list []json.RawMessage
			if err := json.Unmarshal(page[key], &list); err != nil && page[key] != nil {
				return nil, fmt.Errorf("upstream %s: %s result %q: %w", u.up.Name, call.Method, key, err)
			}
			for _, item := range list {
				edited, err := edit(u, item)
				if err != nil {
					return nil, fmt.Errorf("upstream %s: %s item: %w", u.up.Name, call.Method, err)
				}
				items = append(items, edited)
			}
			if json.Unmarshal(page["nextCursor"], &cursor) != nil || cursor == "" {
				break
			}
		}
	}
	out, err := json.Marshal(map[string][]json.RawMessage{key: items})
	return &wire.Reply{Result: out}, err
}

// prefixed is a tool or prompt with its upstream's prefix on its name.
func prefixed(u *upLink, item json.RawMessage) (json.RawMessage, error) {
	var named struct{ Name string }
	if err := json.Unmarshal(item, &named); err != nil {
		return nil, err
	}
	return wire.SetMember(item, "name", quote(u.prefix+named.Name))
}

func (l *link) remember(m map[string]*upLink, key string, u *upLink) {
	if key == "" {
		return
	}
	l.routes.mu.Lock()
	defer l.routes.mu.Unlock()
	if _, ok := m[key]; ok || len(m) < maxRoutes {
		m[key] = u
	}
}

// rememberTask notes the upstream of a task a tools/call started (a CreateTaskResult).
func (l *link) rememberTask(u *upLink, result json.RawMessage) {
	task, ok := wire.Member(result, "task")
	if !ok {
		return
	}
	var t struct{ TaskID string }
	if json.Unmarshal(task, &t) == nil {
		l.remember(l.routes.tasks, t.TaskID, u)
	}
}
