package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/yosida95/uritemplate/v3"
)

// With several upstreams, tool and prompt names are prefixed "NAME_", lists are merged, and
// each request goes to the upstream that owns its name or URI. Upstream names cannot contain
// "_" (the gateway's configuration refuses them), so the first "_" of a prefixed name always
// names its upstream: two upstreams can never expose the same name.

// maxPages bounds how many pages of one upstream's list are merged into one reply.
const maxPages = 100

// Rejection is a request the gateway refuses itself (no upstream owns the name); the audit
// fan-out records it as tool_call_rejected.
type Rejection struct{ Err *jsonrpc.Error }

func (r Rejection) Error() string { return r.Err.Error() }
func (r Rejection) Unwrap() error { return r.Err }

func reject(format string, args ...any) error {
	return Rejection{&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}}
}

// routes remembers which upstream listed which resource URI and template.
type routes struct {
	mu        sync.Mutex
	resources map[string]*upLink
	templates []template
}

type template struct {
	t  *uritemplate.Template
	up *upLink
}

func (l *link) byPrefix(name string) (*upLink, string) {
	for _, u := range l.ups {
		if rest, ok := strings.CutPrefix(name, u.prefix); ok && rest != "" {
			return u, rest
		}
	}
	return nil, ""
}

// owners lists the upstreams that may serve uri: the one that listed it, or whose template
// matches it; when none is known (the agent never listed), every upstream that serves
// resources, in order.
func (l *link) owners(uri string) []*upLink {
	l.routes.mu.Lock()
	defer l.routes.mu.Unlock()
	if u := l.routes.resources[uri]; u != nil {
		return []*upLink{u}
	}
	for _, t := range l.routes.templates {
		if t.t.Regexp().MatchString(uri) {
			return []*upLink{t.up}
		}
	}
	var out []*upLink
	for _, u := range l.ups {
		if caps := u.session().InitializeResult().Capabilities; caps != nil && caps.Resources != nil {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return l.ups[:1]
	}
	return out
}

// byURI is the first of owners, for requests that can go to one upstream only.
func (l *link) byURI(uri string) *upLink { return l.owners(uri)[0] }

// readResource asks each possible owner in turn; the first that has the resource answers.
func (l *link) readResource(ctx context.Context, method string, p *mcp.ReadResourceParams) (mcp.Result, error) {
	var err error
	for _, u := range l.owners(p.URI) {
		var res mcp.Result
		if res, err = u.forward(ctx, method, p); err == nil {
			return res, nil
		}
	}
	return nil, err
}

func (l *link) route(ctx context.Context, method string, params mcp.Params) (mcp.Result, error) {
	switch p := params.(type) {
	case *mcp.CallToolParamsRaw:
		u, name := l.byPrefix(p.Name)
		if u == nil {
			return nil, reject("unknown tool %q: tool names are prefixed with their upstream's name", p.Name)
		}
		q := *p
		q.Name = name
		return u.forward(ctx, method, &q)
	case *mcp.GetPromptParams:
		u, name := l.byPrefix(p.Name)
		if u == nil {
			return nil, reject("unknown prompt %q: prompt names are prefixed with their upstream's name", p.Name)
		}
		q := *p
		q.Name = name
		return u.forward(ctx, method, &q)
	case *mcp.ReadResourceParams:
		return l.readResource(ctx, method, p)
	case *mcp.CompleteParams:
		if p.Ref != nil && p.Ref.Type == "ref/prompt" {
			u, name := l.byPrefix(p.Ref.Name)
			if u == nil {
				return nil, reject("unknown prompt %q", p.Ref.Name)
			}
			q, ref := *p, *p.Ref
			ref.Name, q.Ref = name, &ref
			return u.forward(ctx, method, &q)
		}
		uri := ""
		if p.Ref != nil {
			uri = p.Ref.URI
		}
		return l.byURI(uri).forward(ctx, method, p)
	}
	switch method {
	case "tools/list":
		return l.listTools(ctx)
	case "prompts/list":
		return l.listPrompts(ctx)
	case "resources/list":
		return l.listResources(ctx)
	case "resources/templates/list":
		return l.listTemplates(ctx)
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("method %q is not supported with several upstreams", method)}
}

// each calls list on every upstream that has the capability, following cursors.
func each[T any](ctx context.Context, l *link, has func(*mcp.ServerCapabilities) bool, list func(*upLink, string) ([]T, string, error), add func(*upLink, T)) error {
	for _, u := range l.ups {
		if caps := u.session().InitializeResult().Capabilities; caps == nil || !has(caps) {
			continue
		}
		cursor := ""
		for range maxPages {
			items, next, err := list(u, cursor)
			if err != nil {
				return fmt.Errorf("upstream %s: %w", u.up.Name, passError(err))
			}
			for _, it := range items {
				add(u, it)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

func (l *link) listTools(ctx context.Context) (mcp.Result, error) {
	out := &mcp.ListToolsResult{Tools: []*mcp.Tool{}}
	err := each(ctx, l, func(c *mcp.ServerCapabilities) bool { return c.Tools != nil },
		func(u *upLink, cursor string) ([]*mcp.Tool, string, error) {
			r, err := u.session().ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Tools, r.NextCursor, nil
		},
		func(u *upLink, t *mcp.Tool) { t.Name = u.prefix + t.Name; out.Tools = append(out.Tools, t) })
	return out, err
}

func (l *link) listPrompts(ctx context.Context) (mcp.Result, error) {
	out := &mcp.ListPromptsResult{Prompts: []*mcp.Prompt{}}
	err := each(ctx, l, func(c *mcp.ServerCapabilities) bool { return c.Prompts != nil },
		func(u *upLink, cursor string) ([]*mcp.Prompt, string, error) {
			r, err := u.session().ListPrompts(ctx, &mcp.ListPromptsParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Prompts, r.NextCursor, nil
		},
		func(u *upLink, p *mcp.Prompt) { p.Name = u.prefix + p.Name; out.Prompts = append(out.Prompts, p) })
	return out, err
}

func (l *link) listResources(ctx context.Context) (mcp.Result, error) {
	out := &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}
	owners := map[string]*upLink{}
	err := each(ctx, l, func(c *mcp.ServerCapabilities) bool { return c.Resources != nil },
		func(u *upLink, cursor string) ([]*mcp.Resource, string, error) {
			r, err := u.session().ListResources(ctx, &mcp.ListResourcesParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.Resources, r.NextCursor, nil
		},
		func(u *upLink, r *mcp.Resource) { owners[r.URI] = u; out.Resources = append(out.Resources, r) })
	if err == nil {
		l.routes.mu.Lock()
		l.routes.resources = owners
		l.routes.mu.Unlock()
	}
	return out, err
}

func (l *link) listTemplates(ctx context.Context) (mcp.Result, error) {
	out := &mcp.ListResourceTemplatesResult{ResourceTemplates: []*mcp.ResourceTemplate{}}
	var ts []template
	err := each(ctx, l, func(c *mcp.ServerCapabilities) bool { return c.Resources != nil },
		func(u *upLink, cursor string) ([]*mcp.ResourceTemplate, string, error) {
			r, err := u.session().ListResourceTemplates(ctx, &mcp.ListResourceTemplatesParams{Cursor: cursor})
			if err != nil {
				return nil, "", err
			}
			return r.ResourceTemplates, r.NextCursor, nil
		},
		func(u *upLink, t *mcp.ResourceTemplate) {
			if parsed, err := uritemplate.New(t.URITemplate); err == nil {
				ts = append(ts, template{parsed, u})
			}
			out.ResourceTemplates = append(out.ResourceTemplates, t)
		})
	if err == nil {
		l.routes.mu.Lock()
		l.routes.templates = ts
		l.routes.mu.Unlock()
	}
	return out, err
}

// mergeCapabilities is the union of the upstreams' capabilities: a feature any of them offers
// is offered, with every flag any of them sets.
func mergeCapabilities(all []*mcp.ServerCapabilities) (*mcp.ServerCapabilities, error) {
	merged := map[string]any{}
	for _, c := range all {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		union(merged, m)
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	out := &mcp.ServerCapabilities{}
	return out, json.Unmarshal(b, out)
}

func union(into, from map[string]any) {
	for k, v := range from {
		switch v := v.(type) {
		case map[string]any:
			sub, ok := into[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				into[k] = sub
			}
			union(sub, v)
		case bool:
			prev, _ := into[k].(bool)
			into[k] = prev || v
		default:
			if _, ok := into[k]; !ok {
				into[k] = v
			}
		}
	}
}
