package entrycache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/services/cache/internal/badgerstore"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failingStore fails every commit while fail is set.
type failingStore struct {
	*badgerstore.Store
	fail *atomic.Bool
}

func (s failingStore) Begin() entrycache.Batch { return failingBatch{s.Store.Begin(), s.fail} }

type failingBatch struct {
	entrycache.Batch
	fail *atomic.Bool
}

var errDisk = errors.New("disk on fire")

func (b failingBatch) Commit(st entrycache.State) error {
	if b.fail.Load() {
		return errDisk
	}
	return b.Batch.Commit(st)
}

// When a commit fails, the writer's in-memory state (recency order, counts, revision) may be
// ahead of the store; it is rebuilt from the store, so it never disagrees with it.
func TestFailedCommitRebuildsStateFromTheStore(t *testing.T) {
	db, err := badgerdb.Open(t.TempDir(), badgerdb.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	fail := &atomic.Bool{}
	c, err := entrycache.Open(failingStore{badgerstore.New(db), fail}, entrycache.Config{MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx := context.Background()
	id := func(k string) entrycache.ID { return entrycache.ID{Namespace: "ns", Key: k} }
	for _, k := range []string{"a", "b"} {
		if _, err := c.Put(ctx, id(k), []byte("v"), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := c.Stats()
	fail.Store(true)
	if _, err := c.Put(ctx, id("c"), []byte("v"), 0, nil); !errors.Is(err, errDisk) { // would evict "a"
		t.Fatalf("put during a failing commit: %v", err)
	}
	fail.Store(false)
	after := c.Stats()
	if after.Entries != 2 || after.Evictions != 0 || after.Revision != before.Revision || after.Bytes != before.Bytes {
		t.Fatalf("stats after a failed commit %+v, want those before it %+v", after, before)
	}
	if _, err := c.Get(ctx, id("a")); err != nil {
		t.Fatalf("entry of the failed batch's eviction is gone: %v", err)
	}
	if _, err := c.Get(ctx, id("c")); err == nil {
		t.Fatal("entry of the failed commit is readable")
	}
	// The writer goes on from the store's state: "b" is now the least recently used.
	m, err := c.Put(ctx, id("d"), []byte("v"), 0, nil)
	if err != nil || m.Revision != before.Revision+1 {
		t.Fatalf("put after recovery: revision %d, %v; want %d", m.Revision, err, before.Revision+1)
	}
	if _, err := c.Get(ctx, id("b")); err == nil {
		t.Fatal("recovered recency order evicted the wrong entry")
	}
	if st := c.Stats(); st.Entries != 2 || st.Evictions != 1 {
		t.Fatalf("stats %+v", st)
	}
}
