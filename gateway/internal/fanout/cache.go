package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// CacheNamespace is where the gateway keeps tool results in the cache service.
const CacheNamespace = "gateway.tools"

// CachedMetaKey marks a reply served from the cache, or from a call another request of the
// same session made, in its _meta.
const CachedMetaKey = "cached"

// storeTimeout bounds storing a result, apart from the call's own time.
const storeTimeout = 2 * time.Second

// Cache serves tools/call from the cache service for the tools a policy names, and coalesces
// identical calls in flight in one agent session into one upstream call.
//
// Coalescing never crosses sessions: a shared call runs in the upstream session of the agent
// session that started it, so it must never run on another agent's behalf (that agent's
// client would answer its sampling and see its progress). Across sessions only stored
// entries are shared, and only within the policy's scope.
type Cache struct {
	client   cachev1.CacheServiceClient
	policies map[string]Policy
	// timeout bounds a shared call, which runs on a context of its own: the callers that wait
	// for it each stop at their own deadline.
	timeout time.Duration
	log     *slog.Logger

	group singleflight.Group
	// flights holds the context and listeners of each shared call in flight, so the callers
	// that join it are told what the upstream sends while it runs (progress, log lines).
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	ctx       context.Context // detached from the caller that started it
	listeners *wire.Listeners
}

// NewCache builds the cache fan-out; with no policies it forwards everything. callTimeout
// bounds each shared upstream call.
func NewCache(client cachev1.CacheServiceClient, policies map[string]Policy, callTimeout time.Duration, log *slog.Logger) *Cache {
	return &Cache{client: client, policies: policies, timeout: callTimeout, log: log, flights: map[string]*flight{}}
}

// Around is a wire.Around. The cache is an optimisation: when the cache service fails, or the
// call cannot be keyed exactly, the call is forwarded as if uncached.
func (c *Cache) Around(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	if call.Method != "tools/call" {
		return forward(ctx)
	}
	policy, ok := c.policies[call.Name()]
	if !ok {
		return forward(ctx)
	}
	key, args, ok := cacheKey(call, policy)
	if !ok {
		return forward(ctx)
	}
	if reply := c.lookup(ctx, key); reply != nil {
		return reply, nil
	}
	return c.shared(ctx, key, call.Session, policy, args, forward)
}

// shared runs the call once for every identical call of the session in flight. Each caller
// waits on its own context: one that gives up returns at once, and the others still get the
// result. The caller whose forward ran gets the result as it came; the others get it marked
// cached. Each gets its own copy.
func (c *Cache) shared(ctx context.Context, key, session string, p Policy, args map[string]any, forward wire.Forward) (*wire.Reply, error) {
	fkey := key + "\x00" + session
	ran := false
	c.mu.Lock()
	f := c.flights[fkey]
	if f == nil {
		fctx, l := wire.Detach(ctx)
		f = &flight{ctx: fctx, listeners: l}
		c.flights[fkey] = f
	}
	leave := f.listeners.Join(ctx)
	defer leave()
	// Under mu, so the flight in the map is always the one the running call uses.
	ch := c.group.DoChan(fkey, func() (any, error) {
		ran = true
		defer func() {
			c.mu.Lock()
			if c.flights[fkey] == f {
				delete(c.flights, fkey)
			}
			c.mu.Unlock()
		}()
		return c.run(f, key, p, args, forward)
	})
	c.mu.Unlock()
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		reply := r.Val.(*wire.Reply)
		if !ran {
			if marked := markCached(reply); marked != nil {
				return marked, nil
			}
		}
		return &wire.Reply{Result: bytes.Clone(reply.Result)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run forwards the call on the flight's own context and stores a result that may be shared:
// not an error, and not one the agent helped make (the upstream asked it for sampling,
// elicitation or roots while serving the call).
func (c *Cache) run(f *flight, key string, p Policy, args map[string]any, forward wire.Forward) (*wire.Reply, error) {
	ctx, cancel := context.WithTimeout(f.ctx, c.timeout)
	defer cancel()
	reply, err := forward(ctx)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("tools/call timed out after %s", c.timeout)}
		}
		return nil, err
	}
	if failed(reply) || f.listeners.Interactive() {
		return reply, nil
	}
	sctx, scancel := context.WithTimeout(f.ctx, storeTimeout)
	defer scancel()
	_, err = c.client.Put(sctx, &cachev1.PutRequest{Namespace: CacheNamespace, Key: key, Value: reply.Result,
		Ttl: durationpb.New(p.TTL), Tags: p.tags(args)})
	if err != nil {
		c.log.Warn("cache store failed", "err", err)
	}
	return reply, nil
}

// lookup returns the stored result for key, marked cached, or nil.
func (c *Cache) lookup(ctx context.Context, key string) *wire.Reply {
	e, err := c.client.Get(ctx, &cachev1.GetRequest{Namespace: CacheNamespace, Key: key})
	if err != nil {
		if status.Code(err) != codes.NotFound {
			c.log.Warn("cache lookup failed; forwarding", "err", err)
		}
		return nil
	}
	return markCached(&wire.Reply{Result: e.GetValue()})
}

// markCached is a copy of r with _meta.cached true, or nil if r's result is not an object.
func markCached(r *wire.Reply) *wire.Reply {
	marked, err := r.WithMeta(CachedMetaKey, true)
	if err != nil {
		return nil
	}
	return marked
}
