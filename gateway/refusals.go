package gateway

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// Why a request was refused before it reached an MCP session. The set is closed, so the
// counts of one interval have a bounded number of keys.
// A refusal is its reason, as the audit event's error message says it.
type refusal string

const (
	refusedNoToken    refusal = "missing bearer token"
	refusedWrongToken refusal = "wrong bearer token"
	refusedOrigin     refusal = "cross-origin request from an origin not allowed"
	refusedTooLarge   refusal = "request body over --max-request-bytes"
)

// code is the audit event's error code of the refusal.
func (r refusal) code() string {
	switch r {
	case refusedOrigin:
		return "forbidden_origin"
	case refusedTooLarge:
		return "request_too_large"
	default:
		return "unauthorized"
	}
}

const (
	// maxRefusalSources bounds the sources counted apart in one interval; refusals from
	// further sources are counted under the source "other".
	maxRefusalSources = 100
	// refusalSendTimeout bounds recording one interval's refusals.
	refusalSendTimeout = 5 * time.Second
)

// refusals counts refused requests and records them in the audit log once per interval, one
// TOOL_CALL_REJECTED event per (source, reason) with the count: a flood of refused requests
// costs a map update each, never an audit append on the request path, and the log grows by a
// bounded number of events per interval. The events carry no session id, since a refused
// request proved nothing about the session it named.
type refusals struct {
	client   auditv1.AuditServiceClient
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	counts map[refusalKey]*refusalCount
}

type refusalKey struct {
	source string
	refusal
}

type refusalCount struct {
	n           int64
	first, last time.Time
}

func newRefusals(client auditv1.AuditServiceClient, interval time.Duration, log *slog.Logger) *refusals {
	return &refusals{client: client, interval: interval, log: log, counts: map[refusalKey]*refusalCount{}}
}

// add counts one refused request. It never blocks on anything but the counts' lock.
func (r *refusals) add(req *http.Request, why refusal) {
	now := time.Now()
	k := refusalKey{source: sourceOf(req), refusal: why}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counts[k]
	if !ok && len(r.counts) >= maxRefusalSources {
		k.source = "other"
		c, ok = r.counts[k]
	}
	if !ok {
		c = &refusalCount{first: now}
		r.counts[k] = c
	}
	c.n++
	c.last = now
}

// sourceOf is the client's IP address. Forwarding headers are not read: a refused client
// could name any source in them.
func sourceOf(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

// run records the counts every interval until ctx ends, then records what is left.
func (r *refusals) run(ctx context.Context) {
	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			r.flush()
		case <-ctx.Done():
			r.flush()
			return
		}
	}
}

// flush sends the counts so far as one AppendBatch and starts new counts.
func (r *refusals) flush() {
	r.mu.Lock()
	counts := r.counts
	r.counts = make(map[refusalKey]*refusalCount, len(counts))
	r.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b refusalKey) int {
		return cmp.Or(cmp.Compare(a.source, b.source), cmp.Compare(a.refusal, b.refusal))
	})
	events := make([]*auditv1.Event, len(keys))
	total := int64(0)
	for i, k := range keys {
		c := counts[k]
		total += c.n
		args, _ := structpb.NewStruct(map[string]any{"source": k.source, "count": c.n,
			"first": c.first.UTC().Format(time.RFC3339Nano), "last": c.last.UTC().Format(time.RFC3339Nano)})
		events[i] = &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, ErrorCode: k.code(),
			ErrorMessage: fmt.Sprintf("%d requests from %s refused: %s", c.n, k.source, k.refusal),
			ResourceUri:  "/mcp", Operation: "http", Arguments: args}
	}
	ctx, cancel := context.WithTimeout(context.Background(), refusalSendTimeout)
	defer cancel()
	if _, err := r.client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: events}); err != nil {
		r.log.Warn("refused requests not recorded in the audit log", "requests", total, "events", len(events), "err", err)
	}
}
