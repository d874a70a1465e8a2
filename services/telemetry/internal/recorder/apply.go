package recorder

import (
	"errors"
	"maps"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

// apply runs on the writer goroutine. Calls and events are committed with the aggregates
// they change, in one atomic unit; a unit too big for one transaction is split in halves,
// each committed after the one before, so every commit is self-consistent. Calls whose
// correlation id was recorded before are skipped (see dedupe).
func (r *Recorder) apply(batch []item) ([]writer.Result[outcome], error) {
	results := make([]writer.Result[outcome], len(batch))
	var entries []entry
	for i, it := range batch {
		switch {
		case it.retention:
			results[i] = r.retain()
		case it.event != nil:
			entries = append(entries, entry{item: i, event: it.event})
		default:
			results[i].Value.calls = make([]Recorded, len(it.calls))
			for k, c := range it.calls {
				entries = append(entries, entry{item: i, pos: k, call: c})
			}
		}
	}
	if len(entries) > 0 {
		r.record(entries, results)
	}
	return results, nil
}

// retain deletes one chunk of what retention drops: call records first, then, once none is
// left, aggregates (see Store.DeleteAggregatesBefore).
func (r *Recorder) retain() writer.Result[outcome] {
	cutoff := r.now().Add(-r.retention)
	n, more, err := r.store.DeleteCallsBefore(cutoff, r.chunk)
	if err != nil || more {
		return writer.Result[outcome]{Value: outcome{deleted: n, more: more}, Err: err}
	}
	// Buckets that end by the cutoff minute hold no call within retention.
	aggs, more, err := r.store.DeleteAggregatesBefore(floorMinute(cutoff), r.chunk)
	return writer.Result[outcome]{Value: outcome{deleted: n, aggregates: aggs, more: more}, Err: err}
}

// record commits the entries that are not duplicates and fills in the items' results; an
// item fails if any of its entries failed.
func (r *Recorder) record(entries []entry, results []writer.Result[outcome]) {
	fresh, err := r.dedupe(entries)
	if err != nil {
		for _, e := range entries {
			results[e.item].Err = err
		}
		return
	}
	if len(fresh) > 0 {
		r.commit(entries, fresh)
	}
	for j := range entries {
		e := &entries[j]
		res := &results[e.item]
		if e.event != nil {
			res.Value.seq, res.Value.totals, res.Err = e.event.GetSeq(), e.totals, e.err
			continue
		}
		rec, err := e.recorded(entries)
		if err != nil {
			res.Err = err
			continue
		}
		res.Value.calls[e.pos] = rec
	}
}

func (r *Recorder) commit(entries []entry, idx []int) {
	err := r.commitUnit(entries, idx)
	if errors.Is(err, ErrTooBig) && len(idx) > 1 {
		half := len(idx) / 2
		r.commit(entries, idx[:half])
		r.commit(entries, idx[half:])
		return
	}
	if err != nil {
		for _, j := range idx {
			entries[j].err = err
		}
	}
}

// commitUnit numbers the entries idx, adds the calls to the aggregates they count in and
// commits it all. On error nothing is written, and the writer forgets the aggregates it
// changed, so its state is the store's.
func (r *Recorder) commitUnit(entries []entry, idx []int) error {
	global := AggKey{Kind: AggGlobal}
	aggs := map[AggKey]*aggregate.Aggregate{global: nil}
	for _, j := range idx {
		if c := entries[j].call; c != nil {
			for _, k := range keysOf(c) {
				aggs[k] = nil
			}
		}
	}
	if err := r.loadAggregates(aggs); err != nil {
		return err
	}
	err := r.fillUnit(entries, idx, aggs)
	if err != nil {
		for k := range aggs {
			delete(r.cache, k) // it may have been changed; the store has the committed one
		}
		return err
	}
	r.remember(aggs)
	return nil
}

// loadAggregates sets every key of aggs to its aggregate: cached, stored, or new.
func (r *Recorder) loadAggregates(aggs map[AggKey]*aggregate.Aggregate) error {
	var missing []AggKey
	for k := range aggs {
		if a, ok := r.cache[k]; ok {
			aggs[k] = a
		} else {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	stored, err := r.store.Aggregates(missing)
	if err != nil {
		return err
	}
	for _, k := range missing {
		if aggs[k] = stored[k]; aggs[k] == nil {
			aggs[k] = aggregate.New()
		}
	}
	return nil
}

// remember caches committed aggregates; past the bound it drops a quarter of the cache, in
// map order (random), which keeps hot aggregates likely cached without bookkeeping per use.
func (r *Recorder) remember(aggs map[AggKey]*aggregate.Aggregate) {
	maps.Copy(r.cache, aggs)
	if len(r.cache) <= r.cacheMax {
		return
	}
	drop := len(r.cache) - r.cacheMax*3/4
	for k := range r.cache {
		if drop == 0 {
			break
		}
		delete(r.cache, k)
		drop--
	}
}

// fillUnit numbers the entries idx, adds the calls to aggs, snapshots the totals for start
// and stop events, and commits the unit. Seqs and totals it sets on entries whose commit
// fails are never read: the entries' err is set.
func (r *Recorder) fillUnit(entries []entry, idx []int, aggs map[AggKey]*aggregate.Aggregate) error {
	global := AggKey{Kind: AggGlobal}
	u := &Unit{Aggregates: aggs, DedupeFor: DedupeWindow}
	callSeq, eventSeq := r.lastCall, r.lastEvent
	for _, j := range idx {
		e := &entries[j]
		if c := e.call; c != nil {
			callSeq++
			c.Seq = callSeq
			add := aggregate.Call{DurationMs: c.GetDurationMs(), Error: c.GetStatus() == telemetryv1.CallStatus_CALL_STATUS_ERROR,
				BytesIn: c.GetBytesIn(), BytesOut: c.GetBytesOut()}
			for _, k := range keysOf(c) {
				if err := aggs[k].Add(add); err != nil {
					return err
				}
			}
			u.Calls = append(u.Calls, c)
			continue
		}
		eventSeq++
		e.event.Seq = eventSeq
		switch e.event.GetKind() {
		case telemetryv1.ServerEventKind_SERVER_EVENT_KIND_START, telemetryv1.ServerEventKind_SERVER_EVENT_KIND_STOP:
			e.event.Totals = TotalsProto(aggs[global].Totals)
			e.totals = aggs[global].Totals
		}
		u.Events = append(u.Events, e.event)
	}
	u.LastCallSeq, u.LastEventSeq = callSeq, eventSeq
	if err := r.store.Commit(u); err != nil {
		return err
	}
	r.lastCall, r.lastEvent = callSeq, eventSeq
	return nil
}

// keysOf lists the aggregates a call counts in.
func keysOf(c *telemetryv1.ToolCall) []AggKey {
	tool, session := c.GetTool(), c.GetSessionId()
	minute := floorMinute(c.GetTime().AsTime())
	keys := make([]AggKey, 0, 7)
	keys = append(keys, AggKey{Kind: AggGlobal}, AggKey{Kind: AggTool, Tool: tool})
	if session != "" {
		keys = append(keys, AggKey{Kind: AggSessionTool, Session: session, Tool: tool})
	}
	for _, l := range levels() {
		keys = append(keys, AggKey{Kind: AggWindowTool, Tool: tool, Level: l, Start: bucketStart(minute, l)})
	}
	// A session's windows use minute buckets only: reading one costs a bucket per minute the
	// session was active (per tool), which sessions keep small, while hour and day buckets
	// per session would cost two more writes for every call.
	if session != "" {
		keys = append(keys, AggKey{Kind: AggWindowSessionTool, Session: session, Tool: tool, Level: LevelMinute, Start: minute})
	}
	return keys
}

// TotalsProto converts totals to their API form.
func TotalsProto(t aggregate.Totals) *telemetryv1.Totals {
	return &telemetryv1.Totals{ToolCalls: t.Calls, Errors: t.Errors, BytesIn: t.BytesIn, BytesOut: t.BytesOut, TotalDurationMs: t.DurationMs}
}
