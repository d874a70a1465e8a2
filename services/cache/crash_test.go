package cache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/platform/childtest"
	"github.com/osirisplane/osiris/services/cache"
)

const childEnv = "OSIRIS_CACHE_TEST_CHILD_DIR"

// runChild is the test binary acting as a service process: it serves dir and prints its
// gRPC address, then runs until it is killed.
func runChild(dir string) int {
	svc, err := cache.New(testConfig(dir), quietLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	childtest.Announce(svc.GRPCAddr())
	if err := svc.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type child struct {
	proc   *childtest.Child
	conn   *grpc.ClientConn
	client cachev1.CacheServiceClient
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	proc := childtest.Start(t, childEnv+"="+dir)
	conn, client := dial(t, proc.Addrs[0])
	return &child{proc: proc, conn: conn, client: client}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	c.proc.Kill(t) // SIGKILL: no shutdown code runs
	c.conn.Close()
}

// keyState is what a key must hold after a restart: the last acknowledged write, or, when a
// write to it was in flight at the kill, either that or the write's outcome.
type keyState struct {
	value    string // "" = absent
	inFlight *string
}

// A child process serves the cache under Put/Delete load from 16 workers (each owns its keys
// and writes them one at a time) and is killed with SIGKILL at a random moment, four times.
// After each restart every acknowledged Put is there with its value and every acknowledged
// Delete is still absent.
func TestCrashKill9KeepsAcknowledgedPutsAndDeletes(t *testing.T) {
	const workers, keysPerWorker = 16, 40
	dir := t.TempDir()
	states := make([][]keyState, workers)
	for w := range states {
		states[w] = make([]keyState, keysPerWorker)
	}
	acked := 0
	var mu sync.Mutex
	for round := range 4 {
		c := startChild(t, dir)
		checkKeys(t, c.client, states)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for i := 0; ctx.Err() == nil; i++ {
					k := rng.IntN(keysPerWorker)
					st := &states[w][k]
					var err error
					next := ""
					if rng.IntN(3) == 0 {
						st.inFlight = &next
						_, err = c.client.Delete(ctx, &cachev1.DeleteRequest{Namespace: "crash", Key: crashKey(w, k)})
					} else {
						next = fmt.Sprintf("r%d-w%d-i%d", round, w, i)
						st.inFlight = &next
						_, err = c.client.Put(ctx, &cachev1.PutRequest{Namespace: "crash", Key: crashKey(w, k), Value: []byte(next), Tags: []string{"w:" + fmt.Sprint(w)}})
					}
					if err != nil {
						return // the process died under us: this one was never acknowledged
					}
					st.value, st.inFlight = next, nil
					mu.Lock()
					acked++
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		c.kill(t)
		cancel()
		wg.Wait()
		t.Logf("round %d: %d acknowledged writes so far", round, acked)
	}
	c := startChild(t, dir)
	defer c.kill(t)
	checkKeys(t, c.client, states)
	if acked < 100 {
		t.Fatalf("only %d writes were acknowledged: the test proved little", acked)
	}
}

func crashKey(w, k int) string { return fmt.Sprintf("w%d/k%d", w, k) }

// checkKeys compares every key with its state and settles the in-flight writes to what the
// store shows.
func checkKeys(t *testing.T, client cachev1.CacheServiceClient, states [][]keyState) {
	t.Helper()
	present := uint64(0)
	for w := range states {
		for k := range states[w] {
			st := &states[w][k]
			got := ""
			if e := get(t, client, "crash", crashKey(w, k)); e != nil {
				got = string(e.GetValue())
				present++
			}
			if got != st.value && (st.inFlight == nil || got != *st.inFlight) {
				want := fmt.Sprintf("%q", st.value)
				if st.inFlight != nil {
					want += fmt.Sprintf(" or the in-flight %q", *st.inFlight)
				}
				t.Fatalf("key %s holds %q after restart, want %s", crashKey(w, k), got, want)
			}
			st.value, st.inFlight = got, nil
		}
	}
	if s := stats(t, client); s.GetEntries() != present {
		t.Fatalf("stats count %d entries, the store holds %d", s.GetEntries(), present)
	}
}
