package fanout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
)

// CacheNamespace is where the gateway keeps tool results in the cache service.
const CacheNamespace = "gateway.tools"

// CachedMetaKey marks a reply served from the cache, in its _meta.
const CachedMetaKey = "cached"

// Cache serves tools/call from the cache service for the tools a policy names, and coalesces
// concurrent identical calls into one upstream call.
type Cache struct {
	client   cachev1.CacheServiceClient
	policies map[string]Policy
	flight   singleflight.Group
	log      *slog.Logger
}

// NewCache builds the cache fan-out; with no policies it forwards everything.
func NewCache(client cachev1.CacheServiceClient, policies map[string]Policy, log *slog.Logger) *Cache {
	return &Cache{client: client, policies: policies, log: log}
}

// Around is a proxy.Around. The cache is an optimisation: when the cache service fails, the
// call is forwarded as if uncached.
func (c *Cache) Around(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	p, ok := req.GetParams().(*mcp.CallToolParamsRaw)
	if !ok || p == nil {
		return forward(ctx)
	}
	policy, ok := c.policies[p.Name]
	if !ok {
		return forward(ctx)
	}
	var args map[string]any
	if len(p.Arguments) > 0 && json.Unmarshal(p.Arguments, &args) != nil {
		return forward(ctx) // not an object: nothing to key on
	}
	key := cacheKey(p.Name, policy.Key, args)
	if res := c.lookup(ctx, key); res != nil {
		return res, nil
	}
	// Identical calls in flight share one upstream call and its result.
	v, err, _ := c.flight.Do(key, func() (any, error) {
		res, err := forward(ctx)
		if err != nil {
			return nil, err
		}
		if r, ok := res.(*mcp.CallToolResult); ok && !r.IsError {
			c.store(ctx, key, r, policy, args)
		}
		return res, nil
	})
	if err != nil {
		return nil, err
	}
	return copyResult(v.(mcp.Result)), nil
}

func (c *Cache) lookup(ctx context.Context, key string) *mcp.CallToolResult {
	e, err := c.client.Get(ctx, &cachev1.GetRequest{Namespace: CacheNamespace, Key: key})
	if err != nil {
		if status.Code(err) != codes.NotFound {
			c.log.Warn("cache lookup failed; forwarding", "err", err)
		}
		return nil
	}
	res := &mcp.CallToolResult{}
	if err := json.Unmarshal(e.GetValue(), res); err != nil {
		c.log.Warn("cached result unreadable; forwarding", "err", err)
		return nil
	}
	if res.Meta == nil {
		res.Meta = mcp.Meta{}
	}
	res.Meta[CachedMetaKey] = true
	return res
}

func (c *Cache) store(ctx context.Context, key string, r *mcp.CallToolResult, p Policy, args map[string]any) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	_, err = c.client.Put(ctx, &cachev1.PutRequest{Namespace: CacheNamespace, Key: key, Value: b,
		Ttl: durationpb.New(p.TTL), Tags: p.tags(args)})
	if err != nil {
		c.log.Warn("cache store failed", "err", err)
	}
}

// copyResult gives each coalesced caller its own result, since each gets its own _meta.
func copyResult(res mcp.Result) mcp.Result {
	r, ok := res.(*mcp.CallToolResult)
	if !ok {
		return res
	}
	b, err := json.Marshal(r)
	if err != nil {
		return res
	}
	out := &mcp.CallToolResult{}
	if json.Unmarshal(b, out) != nil {
		return res
	}
	return out
}

// cacheKey is sha256 over the tool and the chosen arguments, JSON-encoded with sorted keys.
func cacheKey(tool string, names []string, args map[string]any) string {
	chosen := args
	if len(names) > 0 {
		chosen = make(map[string]any, len(names))
		for _, n := range names {
			if v, ok := args[n]; ok {
				chosen[n] = v
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"tool": tool, "args": chosen}) // maps encode sorted
	sum := sha256.Sum256(b)
	return tool + "/" + hex.EncodeToString(sum[:16])
}
