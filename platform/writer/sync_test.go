package writer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/osirisplane/osiris/platform/apierr"
)

// An item is applied (visible to later batches) before it is synced, and its caller hears
// only after a Sync that began after it was applied.
func TestSyncAcknowledgesOnlyAfterSync(t *testing.T) {
	var applied, syncedUpTo atomic.Int64
	release := make(chan struct{})
	syncs := atomic.Int64{}
	q := New(Config{Sync: func() error {
		upTo := applied.Load()
		<-release
		syncedUpTo.Store(upTo)
		syncs.Add(1)
		return nil
	}}, func(batch []int) ([]Result[int], error) {
		out := make([]Result[int], len(batch))
		for i := range batch {
			out[i].Value = int(applied.Add(1))
		}
		return out, nil
	})
	// At most syncDepth committed batches wait for a sync before the writer itself waits, so
	// n stays below it: all n items can be applied while the first sync blocks.
	const n = syncDepth - 14
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			v, err := q.Submit(context.Background(), 0)
			if err != nil {
				t.Errorf("submit: %v", err)
				return
			}
			if int64(v) > syncedUpTo.Load() {
				t.Errorf("item %d acknowledged before a sync covered it (synced up to %d)", v, syncedUpTo.Load())
			}
		})
	}
	waitFor(t, func() bool { return applied.Load() == n }) // all applied while the first sync blocks
	close(release)
	wg.Wait()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := syncs.Load(); s < 1 || s > 3 {
		t.Fatalf("%d syncs for %d items applied behind one blocked sync; want them grouped", s, n)
	}
}

func TestSyncFailureBreaksTheQueue(t *testing.T) {
	diskGone := errors.New("EIO")
	fail := atomic.Bool{}
	q := New(Config{Sync: func() error {
		if fail.Load() {
			return diskGone
		}
		return nil
	}}, func(batch []int) ([]Result[int], error) { return make([]Result[int], len(batch)), nil })
	defer q.Close(context.Background())
	if _, err := q.Submit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	_, err := q.Submit(context.Background(), 2)
	if !errors.Is(err, ErrBroken) || !errors.Is(err, apierr.ErrUnavailable) {
		t.Fatalf("submit during a failed sync: %v, want ErrBroken", err)
	}
	fail.Store(false) // a disk that "recovers" is not trusted: the queue stays broken
	if _, err := q.Submit(context.Background(), 3); !errors.Is(err, ErrBroken) {
		t.Fatalf("submit after a failed sync: %v, want ErrBroken", err)
	}
}

func TestCloseSyncsWhatIsQueued(t *testing.T) {
	var synced, applied atomic.Int64
	q := New(Config{Sync: func() error { synced.Store(applied.Load()); return nil }},
		func(batch []int) ([]Result[int], error) {
			applied.Add(int64(len(batch)))
			return make([]Result[int], len(batch)), nil
		})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { q.Submit(context.Background(), 1) })
	}
	wg.Wait()
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if synced.Load() != 100 || applied.Load() != 100 {
		t.Fatalf("applied %d, synced %d; want 100 each", applied.Load(), synced.Load())
	}
}
