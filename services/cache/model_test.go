package cache_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
)

// modelEntry is an entry of the sequential model.
type modelEntry struct {
	value            string
	tags             []string
	rev              uint64
	created, expires time.Time
}

func (m *modelEntry) live(now time.Time) bool { return m != nil && now.Before(m.expires) }

// model is the sequential cache, replayed in revision order.
type model struct {
	state       map[string]*modelEntry
	history     map[string][]version // per key, the state after each write that touched it
	expirations uint64
}

type version struct {
	rev   uint64
	entry *modelEntry
}

func replay(t *testing.T, all []call, roundTime []time.Time) *model {
	t.Helper()
	var writes []call
	for _, c := range all {
		if c.kind != kGet {
			writes = append(writes, c)
		}
	}
	sort.Slice(writes, func(i, j int) bool { return writes[i].rev < writes[j].rev })
	m := &model{state: map[string]*modelEntry{}, history: map[string][]version{}}
	set := func(key string, e *modelEntry, rev uint64) {
		m.state[key] = e
		m.history[key] = append(m.history[key], version{rev, e})
	}
	remove := func(key string, now time.Time, rev uint64) (live bool) {
		e := m.state[key]
		if e == nil {
			return false
		}
		if !e.live(now) {
			m.expirations++
		}
		set(key, nil, rev)
		return e.live(now)
	}
	for i, w := range writes {
		if i > 0 && w.rev == writes[i-1].rev {
			t.Fatalf("two writes got revision %d", w.rev)
		}
		now := roundTime[w.round]
		switch w.kind {
		case kPut:
			remove(w.key, now, w.rev)
			e := &modelEntry{value: w.value, tags: w.tags, rev: w.rev, created: now, expires: now.Add(w.ttl)}
			compareEntry(t, fmt.Sprintf("reply to put at revision %d", w.rev), w.key, w.got, e, now)
			set(w.key, e, w.rev)
		case kDelete:
			if live := remove(w.key, now, w.rev); live != w.deleted {
				t.Fatalf("delete %s at revision %d: deleted=%v, the model says %v", w.key, w.rev, w.deleted, live)
			}
		case kInvalidate:
			n := uint64(0)
			for _, key := range slices.Sorted(maps.Keys(m.state)) {
				if e := m.state[key]; e != nil && slices.Contains(e.tags, w.tag) && remove(key, now, w.rev) {
					n++
				}
			}
			if n != w.removed {
				t.Fatalf("invalidate %s at revision %d removed %d, the model says %d", w.tag, w.rev, w.removed, n)
			}
		case kClearExpired:
			for _, key := range slices.Sorted(maps.Keys(m.state)) {
				if e := m.state[key]; e != nil && !e.live(now) {
					remove(key, now, w.rev)
				}
			}
		}
	}
	return m
}

// checkGets checks each Get against the model states its real-time window allows.
func checkGets(t *testing.T, all []call, roundTime []time.Time, m *model) {
	t.Helper()
	var byEnd, byStart []call
	for _, c := range all {
		if c.kind != kGet {
			byEnd, byStart = append(byEnd, c), append(byStart, c)
		}
	}
	sort.Slice(byEnd, func(i, j int) bool { return byEnd[i].end.Before(byEnd[j].end) })
	sort.Slice(byStart, func(i, j int) bool { return byStart[i].start.Before(byStart[j].start) })
	maxRevEnded := make([]uint64, len(byEnd)+1) // [i]: max rev of the first i writes to end
	for i, c := range byEnd {
		maxRevEnded[i+1] = max(maxRevEnded[i], c.rev)
	}
	minRevStarted := make([]uint64, len(byStart)+1) // [i]: min rev of the writes from i on
	minRevStarted[len(byStart)] = ^uint64(0)
	for i := len(byStart) - 1; i >= 0; i-- {
		minRevStarted[i] = min(minRevStarted[i+1], byStart[i].rev)
	}
	checked := 0
	for _, g := range all {
		if g.kind != kGet {
			continue
		}
		lo := maxRevEnded[sort.Search(len(byEnd), func(i int) bool { return !byEnd[i].end.Before(g.start) })]
		hi := minRevStarted[sort.Search(len(byStart), func(i int) bool { return byStart[i].start.After(g.end) })]
		now := roundTime[g.round]
		if !m.readableBetween(g.key, lo, hi, g.got, now) {
			t.Fatalf("get %s in round %d returned %v; no model state between revisions %d and %d has that", g.key, g.round, g.got, lo, hi)
		}
		checked++
	}
	if checked < 1000 {
		t.Fatalf("only %d gets checked", checked)
	}
}

// readableBetween says whether some state of key at a revision in [lo, hi) reads as got.
func (m *model) readableBetween(key string, lo, hi uint64, got *cachev1.Entry, now time.Time) bool {
	var cur *modelEntry // the state at revision lo
	h := m.history[key]
	i := 0
	for ; i < len(h) && h[i].rev <= lo; i++ {
		cur = h[i].entry
	}
	for {
		if sameEntry(got, cur, now) {
			return true
		}
		if i >= len(h) || h[i].rev >= hi {
			return false
		}
		cur = h[i].entry
		i++
	}
}

func sameEntry(got *cachev1.Entry, want *modelEntry, now time.Time) bool {
	if !want.live(now) {
		return got == nil
	}
	return got != nil && string(got.GetValue()) == want.value && slices.Equal(got.GetTags(), want.tags) &&
		got.GetRevision() == want.rev && got.GetCreatedAt().AsTime().Equal(want.created) && got.GetExpiresAt().AsTime().Equal(want.expires)
}

func compareEntry(t *testing.T, what, key string, got *cachev1.Entry, want *modelEntry, now time.Time) {
	t.Helper()
	if got != nil && got.GetValue() == nil && want != nil { // a Put reply carries no value
		got = &cachev1.Entry{Value: []byte(want.value), Tags: got.GetTags(), Revision: got.GetRevision(), CreatedAt: got.GetCreatedAt(), ExpiresAt: got.GetExpiresAt()}
	}
	if !sameEntry(got, want, now) {
		t.Fatalf("%s: %s is %v, the model has %+v", what, key, got, want)
	}
}

// counters are the model's expected Stats after its expired entries were cleared at now.
func (m *model) counters(now time.Time, all []call) [6]uint64 {
	var entries, size, hits, misses uint64
	for key, e := range m.state {
		if e == nil {
			continue
		}
		if !e.live(now) {
			m.expirations++
			m.state[key] = nil
			continue
		}
		entries++
		size += uint64(len("s6") + len(key) + len(e.value))
		for _, tg := range e.tags {
			size += uint64(len(tg))
		}
	}
	for _, c := range all {
		if c.kind == kGet {
			if c.got != nil {
				hits++
			} else {
				misses++
			}
		}
	}
	return [6]uint64{entries, size, hits, misses, 0, m.expirations}
}
