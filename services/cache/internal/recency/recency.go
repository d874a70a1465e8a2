// Package recency orders cache entries by last use, so the cache can evict the least
// recently used one exactly, without turning reads into writes.
//
// Uses are numbered by one logical clock (an atomic counter), not by wall time. A reader that
// hits an entry stores a fresh number in the entry's node with one atomic operation; the
// nodes' order lives in a min-heap that only the cache's writer goroutine touches, keyed by
// the number the writer last saw. Since readers only ever raise a node's number, the heap key
// is never above the real one, so when the writer looks for a victim it takes the heap's top,
// and if a reader raised it meanwhile it re-files the node under the new number and looks
// again. The node it finally returns has the smallest real number of all: exact LRU, with
// lock-free reads. Numbers reach the disk lazily (Dirty), never on the read path.
package recency

import (
	"container/heap"
	"sync"
	"sync/atomic"
)

// Use is the last use of an entry, to persist.
type Use struct {
	Key   string
	Stamp uint64
}

type node struct {
	key      string
	revision uint64 // the write this node stands for; a Touch of another revision is stale
	size     int64
	last     atomic.Uint64 // newest use; raised by readers and the writer

	// Owned by the writer goroutine.
	seen      uint64 // heap key: the value of last when the writer filed the node
	persisted uint64 // the stamp last handed out by Dirty or given to Add
	index     int
}

// Tracker is the recency order of every stored entry plus their count and total size.
// Touch and Stamp may be called from any goroutine; every other method belongs to the single
// writer goroutine.
type Tracker struct {
	clock atomic.Uint64
	nodes sync.Map // key -> *node: readers look nodes up, only the writer changes the map

	order  nodeHeap
	bytes  int64
	cursor int // where the last Dirty call stopped
}

// New returns an empty tracker whose clock continues after stamp.
func New(stamp uint64) *Tracker {
	t := &Tracker{}
	t.clock.Store(stamp)
	return t
}

// Touch records a use of key, if it still holds the given revision.
func (t *Tracker) Touch(key string, revision uint64) {
	v, ok := t.nodes.Load(key)
	if !ok {
		return
	}
	n := v.(*node)
	if n.revision != revision {
		return // replaced since the reader saw it; the new entry has its own stamp
	}
	s := t.clock.Add(1)
	for {
		old := n.last.Load()
		if s <= old || n.last.CompareAndSwap(old, s) {
			return
		}
	}
}

// Holds says whether key is tracked with the given revision.
func (t *Tracker) Holds(key string, revision uint64) bool {
	v, ok := t.nodes.Load(key)
	return ok && v.(*node).revision == revision
}

// Next returns a fresh stamp, for a new entry.
func (t *Tracker) Next() uint64 { return t.clock.Add(1) }

// Stamp is the newest stamp handed out, to persist so the next run continues after it.
func (t *Tracker) Stamp() uint64 { return t.clock.Load() }

// Add files a new entry, last used at stamp (which is also taken as already persisted).
// An entry with the same key must have been removed first.
func (t *Tracker) Add(key string, revision uint64, size int64, stamp uint64) {
	n := &node{key: key, revision: revision, size: size, seen: stamp, persisted: stamp}
	n.last.Store(stamp)
	t.raise(stamp)
	t.nodes.Store(key, n)
	heap.Push(&t.order, n)
	t.bytes += size
}

func (t *Tracker) raise(stamp uint64) {
	for {
		c := t.clock.Load()
		if stamp <= c || t.clock.CompareAndSwap(c, stamp) {
			return
		}
	}
}

// Remove forgets key and reports whether it was there.
func (t *Tracker) Remove(key string) bool {
	v, ok := t.nodes.LoadAndDelete(key)
	if !ok {
		return false
	}
	n := v.(*node)
	heap.Remove(&t.order, n.index)
	t.bytes -= n.size
	return true
}

// Victim returns the least recently used key, or false when there is none.
func (t *Tracker) Victim() (string, bool) {
	for len(t.order) > 0 {
		n := t.order[0]
		if l := n.last.Load(); l > n.seen {
			n.seen = l // used since it was filed: file it under its real stamp and look again
			heap.Fix(&t.order, 0)
			continue
		}
		return n.key, true
	}
	return "", false
}

// Len is the number of entries.
func (t *Tracker) Len() int { return len(t.order) }

// Bytes is the total size of the entries.
func (t *Tracker) Bytes() int64 { return t.bytes }

// Dirty returns up to limit uses not yet handed out for persisting, and counts them as
// persisted. Successive calls walk all entries round-robin; more says a full walk has not
// finished (call again).
func (t *Tracker) Dirty(limit int) (uses []Use, more bool) {
	examined := 0
	for examined < len(t.order) && len(uses) < limit {
		if t.cursor >= len(t.order) {
			t.cursor = 0
		}
		n := t.order[t.cursor]
		t.cursor++
		examined++
		if l := n.last.Load(); l > n.persisted {
			n.persisted = l
			uses = append(uses, Use{Key: n.key, Stamp: l})
		}
	}
	return uses, len(uses) == limit
}

// Reset forgets every entry (before the writer reloads them from the store) and moves the
// clock to at least stamp; it never goes back, since readers may hold stamps from it.
func (t *Tracker) Reset(stamp uint64) {
	t.raise(stamp)
	t.nodes.Clear()
	t.order = nil
	t.bytes = 0
	t.cursor = 0
}

// nodeHeap is a min-heap of nodes by the stamp the writer last saw.
type nodeHeap []*node

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].seen < h[j].seen }
func (h nodeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *nodeHeap) Push(x any) {
	n := x.(*node)
	n.index = len(*h)
	*h = append(*h, n)
}

func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return n
}
