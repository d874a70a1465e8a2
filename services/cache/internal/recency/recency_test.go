package recency

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Against a plain list kept in use order, random adds, touches (some of stale revisions),
// removals and evictions pick exactly the same victims.
func TestVictimIsExactlyTheLeastRecentlyUsed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := New(0)
	var order []string // least recently used first
	revs := map[string]uint64{}
	sizes := int64(0)
	moveToBack := func(k string) {
		i := slices.Index(order, k)
		order = append(slices.Delete(order, i, i+1), k)
	}
	for step := range 20000 {
		k := fmt.Sprintf("k%d", rng.IntN(200))
		switch op := rng.IntN(10); {
		case op < 3: // put (replace if present)
			if _, ok := revs[k]; ok {
				tr.Remove(k)
				i := slices.Index(order, k)
				order = slices.Delete(order, i, i+1)
				sizes -= int64(len(k))
			}
			revs[k] = uint64(step + 1)
			tr.Add(k, revs[k], int64(len(k)), tr.Next())
			order = append(order, k)
			sizes += int64(len(k))
		case op < 7: // get
			rev, ok := revs[k]
			if !ok {
				tr.Touch(k, 1) // absent: no effect
				continue
			}
			if rng.IntN(4) == 0 {
				tr.Touch(k, rev+1000) // a stale reader of another revision: no effect
				continue
			}
			tr.Touch(k, rev)
			moveToBack(k)
		case op < 8: // delete
			if _, ok := revs[k]; ok != tr.Remove(k) {
				t.Fatalf("step %d: Remove(%s) disagrees with the model", step, k)
			} else if ok {
				delete(revs, k)
				i := slices.Index(order, k)
				order = slices.Delete(order, i, i+1)
				sizes -= int64(len(k))
			}
		default: // evict
			v, ok := tr.Victim()
			if ok != (len(order) > 0) || (ok && v != order[0]) {
				t.Fatalf("step %d: victim %q %v, want %v", step, v, ok, order)
			}
			if ok {
				tr.Remove(v)
				delete(revs, v)
				order = order[1:]
				sizes -= int64(len(v))
			}
		}
		if tr.Len() != len(order) || tr.Bytes() != sizes {
			t.Fatalf("step %d: %d entries, %d bytes; want %d, %d", step, tr.Len(), tr.Bytes(), len(order), sizes)
		}
	}
}

// Readers touch concurrently with the writer adding, removing and evicting (the race
// detector checks the ownership split); at the end the untouched entries go first.
func TestConcurrentTouchesWhileWriterEvicts(t *testing.T) {
	tr := New(0)
	for i := range 100 {
		tr.Add(fmt.Sprintf("hot%d", i), 1, 1, tr.Next())
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tr.Touch(fmt.Sprintf("hot%d", (g*13+i)%100), 1)
			}
		})
	}
	for i := range 2000 {
		tr.Add(fmt.Sprintf("cold%d", i), 1, 1, tr.Next())
		if tr.Len() > 150 {
			v, _ := tr.Victim()
			tr.Remove(v)
		}
		tr.Dirty(10)
	}
	close(stop)
	wg.Wait()
	// Touch every hot entry once more: now all 100 are more recent than any cold one.
	for i := range 100 {
		tr.Touch(fmt.Sprintf("hot%d", i), 1)
	}
	for range tr.Len() - 100 {
		v, _ := tr.Victim()
		if v[:3] != "col" {
			t.Fatalf("evicted %s while cold entries remain", v)
		}
		tr.Remove(v)
	}
}

func TestDirtyHandsOutEachNewUseOnce(t *testing.T) {
	tr := New(41)
	for i := range 10 {
		tr.Add(fmt.Sprintf("k%d", i), 1, 1, tr.Next())
	}
	if uses, more := tr.Dirty(100); len(uses) != 0 || more {
		t.Fatalf("fresh entries are dirty: %v", uses)
	}
	tr.Touch("k3", 1)
	tr.Touch("k7", 1)
	tr.Touch("k3", 1)
	uses, _ := tr.Dirty(1)
	uses2, _ := tr.Dirty(100)
	all := append(uses, uses2...)
	slices.SortFunc(all, func(a, b Use) int { return int(a.Stamp) - int(b.Stamp) })
	if len(all) != 2 || all[0].Key != "k7" || all[1].Key != "k3" || all[1].Stamp != tr.Stamp() {
		t.Fatalf("dirty = %v, want k7 then k3 at stamp %d", all, tr.Stamp())
	}
	if uses, _ := tr.Dirty(100); len(uses) != 0 {
		t.Fatalf("handed out twice: %v", uses)
	}
	if tr.Stamp() != 41+10+3 {
		t.Fatalf("stamp %d: the clock does not continue after the restored one", tr.Stamp())
	}
}
