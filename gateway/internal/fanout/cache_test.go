package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

const lookupCall = `{"name":"lookup","arguments":{"q":"x"}}`

// Issue 12, Deliver 4: agent B was served agent A's private answer from the cache. With the
// default scope (session) each session has its own entries.
func TestCacheNeverServesAnotherSessionsResult(t *testing.T) {
	c, _ := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	ctx := context.Background()
	var calls int
	a, err := c.Around(ctx, toolCall("A", lookupCall), answer(`{"content":[{"type":"text","text":"A's private answer"}]}`, &calls))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Around(ctx, toolCall("B", lookupCall), answer(`{"content":[{"type":"text","text":"B's answer"}]}`, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b.Result), "A's") || calls != 2 {
		t.Fatalf("session B got %s after %d upstream calls; want its own answer", b.Result, calls)
	}
	again, err := c.Around(ctx, toolCall("A", lookupCall), answer(`{"content":[]}`, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || meta(t, again, CachedMetaKey) != true || !strings.Contains(string(again.Result), "A's private answer") {
		t.Fatalf("session A's second call: %s after %d upstream calls; want its cached answer", again.Result, calls)
	}
	if meta(t, a, CachedMetaKey) != nil {
		t.Fatalf("the first call's reply is marked cached: %s", a.Result)
	}
}

// A wider scope is the operator's choice: principal shares entries among the sessions of one
// principal (all callers while the gateway knows no identities), global among all.
func TestCacheScopeSharesOnlyWhatThePolicySays(t *testing.T) {
	for _, tc := range []struct {
		scope Scope
		// callers in order: session, principal, and whether the call is served cached
		calls []struct {
			session, principal string
			cached             bool
		}
	}{
		{ScopePrincipal, []struct {
			session, principal string
			cached             bool
		}{{"A", "alice", false}, {"B", "alice", true}, {"C", "bob", false}, {"D", "", false}, {"E", "", true}}},
		{ScopeGlobal, []struct {
			session, principal string
			cached             bool
		}{{"A", "alice", false}, {"B", "bob", true}, {"C", "", true}}},
	} {
		c, _ := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour, Scope: tc.scope}})
		for i, call := range tc.calls {
			var calls int
			wc := toolCall(call.session, lookupCall)
			wc.Principal = call.principal
			r, err := c.Around(context.Background(), wc, answer(`{"content":[]}`, &calls))
			if err != nil {
				t.Fatal(err)
			}
			if got := meta(t, r, CachedMetaKey) == true; got != call.cached || got == (calls == 1) {
				t.Fatalf("%s scope, call %d (%+v): cached %v, %d upstream calls", tc.scope, i, call, got, calls)
			}
		}
	}
}

// A config that names an unknown scope is refused, naming the tool; no scope means session.
func TestPolicyScopeIsValidated(t *testing.T) {
	_, err := ParsePolicies(json.RawMessage(`{"lookup":{"ttl":"1h","scope":"tenant"}}`))
	if err == nil || !strings.Contains(err.Error(), `"lookup"`) || !strings.Contains(err.Error(), `"tenant"`) {
		t.Fatalf("unknown scope: %v", err)
	}
	p, err := ParsePolicies(json.RawMessage(`{"a":{"ttl":"1h"},"b":{"ttl":"1h","scope":"global"},"c":{"ttl":"1h","scope":"principal"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p["a"].Scope != ScopeSession || p["b"].Scope != ScopeGlobal || p["c"].Scope != ScopePrincipal {
		t.Fatalf("scopes %+v", p)
	}
}

// blocked is a forward that signals its context on started and answers when release closes.
func blocked(started chan<- context.Context, release <-chan struct{}, calls *atomic.Int64) wire.Forward {
	return func(ctx context.Context) (*wire.Reply, error) {
		calls.Add(1)
		started <- ctx
		select {
		case <-release:
			return &wire.Reply{Result: json.RawMessage(`{"content":[{"type":"text","text":"shared"}]}`)}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

type outcome struct {
	reply *wire.Reply
	err   error
}

func callAsync(ctx context.Context, c *Cache, call *wire.Call, forward wire.Forward) <-chan outcome {
	out := make(chan outcome, 1)
	go func() {
		r, err := c.Around(ctx, call, forward)
		out <- outcome{r, err}
	}()
	return out
}

// Issue 12, Deliver 4: with concurrent identical calls, B's call ran inside A's upstream
// session. Calls in flight are shared only within one session.
func TestCoalescingNeverCrossesSessions(t *testing.T) {
	c, _ := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour, Scope: ScopeGlobal}})
	startedA, startedB := make(chan context.Context, 1), make(chan context.Context, 1)
	release := make(chan struct{})
	var callsA, callsB atomic.Int64
	a := callAsync(context.Background(), c, toolCall("A", lookupCall), blocked(startedA, release, &callsA))
	<-startedA
	b := callAsync(context.Background(), c, toolCall("B", lookupCall), blocked(startedB, release, &callsB))
	select {
	case <-startedB: // B's call went to B's own upstream session while A's was in flight
	case <-time.After(10 * time.Second):
		t.Fatal("B's call waited for A's: it was coalesced across sessions")
	}
	close(release)
	for _, r := range []outcome{<-a, <-b} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if callsA.Load() != 1 || callsB.Load() != 1 {
		t.Fatalf("upstream calls: A %d, B %d", callsA.Load(), callsB.Load())
	}
}

// Issue 12, Deliver 4: A's cancellation failed B's call. Two identical calls of one session
// share one upstream call; the first caller gives up, and the second still gets the result,
// marked cached, while it heard what the upstream sent (it stays joined to the call).
func TestCoalescedCallerCancellationDoesNotFailOthers(t *testing.T) {
	c, _ := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	started := make(chan context.Context, 2)
	release := make(chan struct{})
	var calls atomic.Int64
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	a := callAsync(ctxA, c, toolCall("S", lookupCall), blocked(started, release, &calls))
	shared := <-started
	ctxB := context.WithValue(context.Background(), struct{ name string }{"caller"}, "B")
	b := callAsync(ctxB, c, toolCall("S", lookupCall), blocked(started, release, &calls))
	eventually(t, "B joins A's call", func() bool { return len(wire.Audience(shared, false)) == 2 })

	cancelA()
	if r := <-a; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled caller: %v, %v", r.reply, r.err)
	}
	if shared.Err() != nil {
		t.Fatalf("the shared call ended with its first caller: %v", shared.Err())
	}
	if got := wire.Audience(shared, false); len(got) != 1 || got[0] != ctxB {
		t.Fatalf("after A left, the call's audience is %v; want B alone", got)
	}
	close(release)
	r := <-b
	if r.err != nil || meta(t, r.reply, CachedMetaKey) != true || !strings.Contains(string(r.reply.Result), "shared") {
		t.Fatalf("second caller: %v, %v", r.reply, r.err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d upstream calls for two identical calls in flight", calls.Load())
	}
}

// The shared call runs on a context of its own: the caller that started it going away does
// not end it, the call timeout does, and the waiting caller gets a clear timeout error.
func TestCoalescedCallRunsDetachedWithItsOwnTimeout(t *testing.T) {
	c, _ := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	c.timeout = 200 * time.Millisecond
	started := make(chan context.Context, 2)
	never := make(chan struct{})
	var calls atomic.Int64
	traced := struct{ name string }{"trace"}
	ctxA, cancelA := context.WithCancel(context.WithValue(context.Background(), traced, "A's span"))
	defer cancelA()
	a := callAsync(ctxA, c, toolCall("S", lookupCall), blocked(started, never, &calls))
	shared := <-started
	b := callAsync(context.Background(), c, toolCall("S", lookupCall), blocked(started, never, &calls))
	eventually(t, "B joins A's call", func() bool { return len(wire.Audience(shared, false)) == 2 })
	if _, ok := shared.Deadline(); !ok || shared.Value(traced) != "A's span" {
		t.Fatal("the shared call has no deadline of its own, or lost its starter's values")
	}
	cancelA()
	<-a
	r := <-b
	var rpc *jsonrpc.Error
	if !errors.As(r.err, &rpc) || !strings.Contains(rpc.Message, "timed out after 200ms") {
		t.Fatalf("waiting caller: %v, %v; want the call timeout", r.reply, r.err)
	}
	if !errors.Is(shared.Err(), context.DeadlineExceeded) {
		t.Fatalf("shared call ended with %v, want its own deadline", shared.Err())
	}
}

// Issue 12, Deliver 4: a tool that asked agent A for sampling had A's private answer served
// to others. A result made while the upstream asked the agent something is never stored.
func TestInteractiveResultIsNotCached(t *testing.T) {
	c, mem := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	var calls int
	sampling := func(ctx context.Context) (*wire.Reply, error) {
		calls++
		wire.Audience(ctx, true) // what the proxy does when it relays sampling/createMessage
		return &wire.Reply{Result: json.RawMessage(`{"content":[{"type":"text","text":"from A's model"}]}`)}, nil
	}
	for range 2 {
		if _, err := c.Around(context.Background(), toolCall("A", lookupCall), sampling); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || mem.stored() != 0 {
		t.Fatalf("%d upstream calls, %d entries stored; an interactive result was cached", calls, mem.stored())
	}
}

// A result with isError is never stored.
func TestIsErrorResultIsNotCached(t *testing.T) {
	c, mem := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	var calls int
	for range 2 {
		if _, err := c.Around(context.Background(), toolCall("A", lookupCall), answer(`{"content":[{"type":"text","text":"no"}],"isError":true}`, &calls)); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 || mem.stored() != 0 {
		t.Fatalf("%d upstream calls, %d entries stored", calls, mem.stored())
	}
}

// What is stored is the upstream's result as it wrote it; each reply from the cache is its own
// copy with cached:true spliced into _meta, every other byte kept.
func TestCachedReplyIsTheStoredBytesMarkedPerCaller(t *testing.T) {
	c, mem := newTestCache(map[string]Policy{"lookup": {TTL: time.Hour}})
	const upstream = `{"z":1, "content":[{"type":"text","text":"hi","annotations":null}],"isError":false,"_meta":{"x":null}}`
	var calls int
	if _, err := c.Around(context.Background(), toolCall("A", lookupCall), answer(upstream, &calls)); err != nil {
		t.Fatal(err)
	}
	for _, v := range mem.entries {
		if string(v) != upstream {
			t.Fatalf("stored %s, want the upstream's bytes", v)
		}
	}
	first, err := c.Around(context.Background(), toolCall("A", lookupCall), answer(upstream, &calls))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"z":1, "content":[{"type":"text","text":"hi","annotations":null}],"isError":false,"_meta":{"x":null,"cached":true}}`
	if string(first.Result) != want {
		t.Fatalf("cached reply\n%s\nwant\n%s", first.Result, want)
	}
	copy(first.Result, strings.Repeat("#", len(first.Result)))
	second, err := c.Around(context.Background(), toolCall("A", lookupCall), answer(upstream, &calls))
	if err != nil || string(second.Result) != want || calls != 1 {
		t.Fatalf("second cached reply %s, %v, after %d upstream calls", second.Result, err, calls)
	}
}
