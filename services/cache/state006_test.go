package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
)

type opKind int

const (
	kPut opKind = iota
	kGet
	kDelete
	kInvalidate
	kClearExpired
)

// call is one operation of the storm as the client saw it.
type call struct {
	kind       opKind
	round      int
	key, tag   string
	value      string
	tags       []string
	ttl        time.Duration
	start, end time.Time // real time, for the linearizability window
	rev        uint64    // writes: the revision the service reported
	got        *cachev1.Entry
	removed    uint64
	deleted    bool
}

// STATE-006: in the original the memory and disk tiers diverged. Here there is one store of
// record. 64 goroutines mix Put, Get, Delete, InvalidateByTag and ClearExpired on 24 shared
// keys for four rounds; between rounds the test clock moves 5 s, so entries expire (TTLs of
// 3 s to 1 h) while the background sweep runs every 2 ms. Every write reports its revision,
// its place in the writer's single order, so the test replays the acknowledged writes in
// that order on a sequential model and checks, exactly:
//   - each write's reply (created/expires times, deleted, removed counts) against the model;
//   - each Get against the model state at some revision inside its real-time window (every
//     write acknowledged before the Get began is in, no write begun after it ended is):
//     linearizability, which also means no expired entry is ever returned;
//   - hits, misses, entries, bytes, evictions and expirations against the model;
//   - after a restart, every key and every counter again.
func TestSTATE006OneCoherentStoreUnderConcurrentMixedOperations(t *testing.T) {
	const workers, perRound, rounds, keys = 64, 30, 4, 24
	dir := t.TempDir()
	clk := newTestClock()
	cfg := testConfig(dir)
	clk.drive(&cfg)
	cfg.ExpiryInterval = 2 * time.Millisecond
	r := start(t, cfg)

	roundTime := make([]time.Time, rounds)
	calls := make([][]call, workers)
	ttls := []time.Duration{3 * time.Second, 5 * time.Second, 7 * time.Second, 10 * time.Second, time.Hour} // 5 s and 10 s expire exactly at a later round's time
	tagPool := []string{"t0", "t1", "t2", "connection:@mysql.main", "connection:@pg.main"}
	for round := range rounds {
		roundTime[round] = clk.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for i := range perRound {
					c := call{round: round, key: fmt.Sprintf("k%02d", rng.IntN(keys))}
					switch p := rng.IntN(100); {
					case p < 40:
						c.kind, c.value, c.ttl = kPut, fmt.Sprintf("r%dw%di%d", round, w, i), ttls[rng.IntN(len(ttls))]
						for _, tg := range tagPool {
							if rng.IntN(3) == 0 {
								c.tags = append(c.tags, tg)
							}
						}
					case p < 75:
						c.kind = kGet
					case p < 87:
						c.kind = kDelete
					case p < 96:
						c.kind, c.tag = kInvalidate, tagPool[rng.IntN(len(tagPool))]
					default:
						c.kind = kClearExpired
					}
					if err := do(r.client, &c); err != nil {
						t.Errorf("worker %d op %d (%v %s): %v", w, i, c.kind, c.key, err)
						return
					}
					calls[w] = append(calls[w], c)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		clk.Add(5 * time.Second)
	}
	var all []call
	for _, cs := range calls {
		all = append(all, cs...)
	}
	final := clk.Now()
	m := replay(t, all, roundTime)
	checkGets(t, all, roundTime, m)

	// Make the counts comparable: remove what expired by now, in the service and the model.
	if _, err := r.client.ClearExpired(context.Background(), &cachev1.ClearExpiredRequest{}); err != nil {
		t.Fatal(err)
	}
	want := m.counters(final, all)
	wantStats(t, stats(t, r.client), want)
	r.stop(t)

	r = start(t, cfg)
	wantStats(t, stats(t, r.client), want)
	for k := range keys {
		key := fmt.Sprintf("k%02d", k)
		compareEntry(t, "after restart", key, get(t, r.client, "s6", key), m.state[key], final)
	}
	clk.Add(time.Hour) // everything has expired now
	for k := range keys {
		if e := get(t, r.client, "s6", fmt.Sprintf("k%02d", k)); e != nil {
			t.Fatalf("expired entry returned after the clock moved an hour: %v", e)
		}
	}
}

// do performs c and records its outcome.
func do(client cachev1.CacheServiceClient, c *call) error {
	ctx := context.Background()
	c.start = time.Now()
	defer func() { c.end = time.Now() }()
	switch c.kind {
	case kPut:
		e, err := client.Put(ctx, &cachev1.PutRequest{Namespace: "s6", Key: c.key, Value: []byte(c.value), Ttl: durationpb.New(c.ttl), Tags: c.tags})
		if err != nil {
			return err
		}
		c.got, c.rev = e, e.GetRevision()
	case kGet:
		e, err := client.Get(ctx, &cachev1.GetRequest{Namespace: "s6", Key: c.key})
		if status.Code(err) == codes.NotFound {
			return nil
		}
		c.got = e
		return err
	case kDelete:
		resp, err := client.Delete(ctx, &cachev1.DeleteRequest{Namespace: "s6", Key: c.key})
		if err != nil {
			return err
		}
		c.deleted, c.rev = resp.GetDeleted(), resp.GetRevision()
	case kInvalidate:
		resp, err := client.InvalidateByTag(ctx, &cachev1.InvalidateByTagRequest{Tag: c.tag})
		if err != nil {
			return err
		}
		c.removed, c.rev = resp.GetRemoved(), resp.GetRevision()
	case kClearExpired:
		resp, err := client.ClearExpired(ctx, &cachev1.ClearExpiredRequest{})
		if err != nil {
			return err
		}
		c.rev = resp.GetRevision()
	}
	return nil
}
