package recorder

import (
	"time"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

// DedupeWindow is how long a call's correlation id is remembered after its commit. A sender
// that resends a call whose reply it lost (the commit happened, the reply did not arrive)
// does so within seconds or minutes; a day covers that with a wide margin, and the ids expire
// on their own (Badger entry TTL), so they do not grow with the store. The window runs on the
// wall clock (Badger's TTL), not on Config.Now.
const DedupeWindow = 24 * time.Hour

// entry is one record of a writer batch: an event, or one call of an item (an item holds one
// call, or a batch of them).
type entry struct {
	item, pos int // the item, and the call's index in it
	call      *telemetryv1.ToolCall
	event     *telemetryv1.ServerEvent

	// A call whose correlation id was recorded before is a duplicate, of a call committed
	// earlier (prior) or of entry same (>= 0) earlier in this writer batch.
	duplicate bool
	prior     Recorded
	same      int

	totals aggregate.Totals // for a start or stop event, when committed
	err    error            // set when the unit holding the entry failed
}

// dedupe marks the calls of entries whose non-empty correlation id was recorded before: by
// an earlier commit (the store remembers ids for DedupeWindow) or earlier in entries. It
// returns the indexes of the entries to commit. It runs on the writer goroutine, so no commit
// can come between the lookup and the commit of what it returns.
func (r *Recorder) dedupe(entries []entry) ([]int, error) {
	var ids []string
	for _, e := range entries {
		if id := e.call.GetCorrelationId(); id != "" {
			ids = append(ids, id)
		}
	}
	var known map[string]Recorded
	if len(ids) > 0 {
		var err error
		if known, err = r.store.Correlations(ids); err != nil {
			return nil, err
		}
	}
	first := make(map[string]int, len(ids))
	fresh := make([]int, 0, len(entries))
	for j := range entries {
		e := &entries[j]
		e.same = -1
		if id := e.call.GetCorrelationId(); id != "" {
			if p, ok := known[id]; ok {
				e.duplicate, e.prior = true, p
				continue
			}
			if k, ok := first[id]; ok {
				e.duplicate, e.same = true, k
				continue
			}
			first[id] = j
		}
		fresh = append(fresh, j)
	}
	return fresh, nil
}

// recorded is the outcome of a call entry once the batch is committed. A duplicate of a call
// of this batch fails if that call failed: nothing was recorded under its id.
func (e *entry) recorded(entries []entry) (Recorded, error) {
	switch {
	case !e.duplicate:
		if e.err != nil {
			return Recorded{}, e.err
		}
		return Recorded{Seq: e.call.GetSeq(), Time: e.call.GetTime().AsTime()}, nil
	case e.same < 0:
		p := e.prior
		p.Duplicate = true
		return p, nil
	}
	o := &entries[e.same]
	if o.err != nil {
		return Recorded{}, o.err
	}
	return Recorded{Seq: o.call.GetSeq(), Time: o.call.GetTime().AsTime(), Duplicate: true}, nil
}
