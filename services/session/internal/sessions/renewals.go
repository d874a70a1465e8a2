package sessions

import (
	"sync"
	"time"
)

// renewals holds, per open session, the time of its latest use by a read that the store does
// not know yet. Reads note; the writer's sweep persists and forgets. An entry lives at most two
// sweep intervals after the last read of its session, so the map is bounded by the sessions
// read in that time, never by all sessions ever seen.
type renewals struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func newRenewals() *renewals { return &renewals{last: map[string]time.Time{}} }

// note records a use of id at t.
func (r *renewals) note(id string, t time.Time) {
	r.mu.Lock()
	if prev, ok := r.last[id]; !ok || t.After(prev) {
		r.last[id] = t
	}
	r.mu.Unlock()
}

// get returns the latest noted use of id.
func (r *renewals) get(id string) (time.Time, bool) {
	r.mu.Lock()
	t, ok := r.last[id]
	r.mu.Unlock()
	return t, ok
}

// snapshot copies the notes, for the sweep to persist.
func (r *renewals) snapshot() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(r.last))
	for id, t := range r.last {
		out[id] = t
	}
	return out
}

// forget drops id's note if it is still t (a newer read keeps its note).
func (r *renewals) forget(id string, t time.Time) {
	r.mu.Lock()
	if cur, ok := r.last[id]; ok && cur.Equal(t) {
		r.delete(id)
	}
	r.mu.Unlock()
}

// drop forgets id whatever its note (the session is closed or gone).
func (r *renewals) drop(id string) {
	r.mu.Lock()
	r.delete(id)
	r.mu.Unlock()
}

func (r *renewals) delete(id string) {
	delete(r.last, id)
	if len(r.last) == 0 {
		// Go maps never shrink; a fresh map gives back the buckets of a burst of sessions.
		r.last = map[string]time.Time{}
	}
}

func (r *renewals) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.last)
}
