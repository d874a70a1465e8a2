package recorder

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
)

// MaxSummaryTools bounds the per-tool breakdown of a summary; the totals count every tool.
const MaxSummaryTools = 1000

// openEnd is the end of a window with no until: far beyond any minute a call can have, and
// on a day boundary, so an open window needs no hour or minute buckets at its end.
const openEnd = math.MaxInt64 / 2 / int64(LevelDay) * int64(LevelDay)

// SummaryQuery selects the calls to summarise; zero fields select everything.
type SummaryQuery struct {
	Session, Tool string
	Since, Until  time.Time // Since inclusive, Until exclusive
}

// ToolSummary is one tool's part of a summary.
type ToolSummary struct {
	Tool string
	*aggregate.Aggregate
}

// Summary answers a SummaryQuery.
type Summary struct {
	Total          *aggregate.Aggregate
	Tools          []ToolSummary // most calls first
	ToolsTruncated bool
	// The window answered, widened to whole minutes; zero ends were not asked for.
	Since, Until time.Time
}

// Summary merges the stored aggregates q selects: the all-time totals without a window, the
// time buckets that cover the window (widened to whole minutes) with one.
func (r *Recorder) Summary(ctx context.Context, q SummaryQuery) (Summary, error) {
	if err := checkTexts("", []text{{"session_id", q.Session, MaxNameBytes}, {"tool", q.Tool, MaxNameBytes}}); err != nil {
		return Summary{}, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return Summary{}, apierr.Invalid("until (%s) must be after since (%s)", q.Until.Format(time.RFC3339Nano), q.Since.Format(time.RFC3339Nano))
	}
	out := Summary{Total: aggregate.New()}
	aq := AggQuery{Session: q.Session, Tool: q.Tool}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		from, to := int64(0), int64(openEnd)
		if !q.Since.IsZero() {
			from = max(0, floorMinute(q.Since))
			out.Since = time.Unix(from*60, 0).UTC()
		}
		if !q.Until.IsZero() {
			to = ceilMinute(q.Until)
			out.Until = time.Unix(to*60, 0).UTC()
		}
		if to <= from {
			return out, nil // a window wholly before 1970 holds no calls
		}
		aq.Ranges = Decompose(from, to)
		if q.Session != "" {
			aq.Ranges = []BucketRange{{Level: LevelMinute, From: from, To: to}} // see keysOf
		}
	}
	per := map[string]*aggregate.Aggregate{}
	err := r.store.ScanAggregates(ctx, aq, func(tool string, a *aggregate.Aggregate) error {
		if p := per[tool]; p != nil {
			return p.Merge(a)
		}
		per[tool] = a
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	for tool, a := range per {
		if err := out.Total.Merge(a); err != nil {
			return Summary{}, err
		}
		out.Tools = append(out.Tools, ToolSummary{Tool: tool, Aggregate: a})
	}
	slices.SortFunc(out.Tools, func(a, b ToolSummary) int {
		if a.Calls != b.Calls {
			return cmp.Compare(b.Calls, a.Calls)
		}
		return strings.Compare(a.Tool, b.Tool)
	})
	if len(out.Tools) > MaxSummaryTools {
		out.Tools, out.ToolsTruncated = out.Tools[:MaxSummaryTools], true
	}
	return out, nil
}

// floorMinute is the minute (since the Unix epoch) that holds t, rounding towards the past.
func floorMinute(t time.Time) int64 {
	s := t.Unix()
	m := s / 60
	if s%60 < 0 {
		m--
	}
	return m
}

// ceilMinute is the first minute boundary at or after t.
func ceilMinute(t time.Time) int64 {
	m := floorMinute(t)
	if !time.Unix(m*60, 0).Equal(t) {
		m++
	}
	return m
}

// BusiestTools names the n tools with the most calls recorded so far, most first, read
// straight from store (the recorder need not be open).
func BusiestTools(ctx context.Context, store Store, n int) ([]string, error) {
	type tool struct {
		name  string
		calls uint64
	}
	var tools []tool
	err := store.ScanAggregates(ctx, AggQuery{}, func(name string, a *aggregate.Aggregate) error {
		tools = append(tools, tool{name, a.Calls})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(tools, func(a, b tool) int {
		if a.calls != b.calls {
			return cmp.Compare(b.calls, a.calls)
		}
		return strings.Compare(a.name, b.name)
	})
	names := make([]string, 0, min(n, len(tools)))
	for _, t := range tools[:min(n, len(tools))] {
		names = append(names, t.name)
	}
	return names, nil
}
