// Package aggregate is the mergeable summary of a set of tool calls: exact totals (calls,
// errors, bytes in and out, duration) and a DDSketch of the durations, whose quantiles are
// within RelativeAccuracy of the true ones. Aggregates of disjoint sets merge into the
// aggregate of their union with the same guarantee, which is what lets the service keep one
// per tool, per session and per minute and answer any combination by merging.
package aggregate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// RelativeAccuracy is the DDSketch guarantee: a reported quantile q lies within 1% of the
// value of rank q·(n-1) among the recorded durations.
const RelativeAccuracy = 0.01

// MaxBins bounds the memory and encoded size of one sketch (about 16 KiB at most). At 1%
// accuracy 2048 bins span a factor of 6·10^17 between the smallest and the largest duration,
// far more than the validated range of durations, so collapsing never happens in practice;
// if it did, it would cost accuracy on the lowest quantiles only.
const MaxBins = 2048

// encodingVersion is the first byte of an encoded aggregate.
const encodingVersion = 1

// Totals are exact sums over a set of calls. Counts and byte sums saturate at the largest
// uint64 instead of wrapping; the duration is a float64 sum, exact while the durations are
// on a binary grid (whole milliseconds, for instance) and the sum stays below 2^53.
type Totals struct {
	Calls      uint64
	Errors     uint64
	BytesIn    uint64
	BytesOut   uint64
	DurationMs float64
}

// Add folds o into t.
func (t *Totals) Add(o Totals) {
	t.Calls = addSat(t.Calls, o.Calls)
	t.Errors = addSat(t.Errors, o.Errors)
	t.BytesIn = addSat(t.BytesIn, o.BytesIn)
	t.BytesOut = addSat(t.BytesOut, o.BytesOut)
	t.DurationMs += o.DurationMs
}

func addSat(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

// Aggregate is Totals plus the distribution of durations. The zero value is not usable; call
// New or Decode.
type Aggregate struct {
	Totals
	latency *ddsketch.DDSketch
	// The exact extremes of the durations (meaningful when Calls > 0). Quantiles are clamped
	// to them, so a single call's percentiles are its duration, not its bucket's midpoint.
	minMs, maxMs float64
}

func newMapping() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(RelativeAccuracy)
	if err != nil {
		panic(err) // RelativeAccuracy is a valid constant
	}
	return m
}

func newStore() store.Store { return store.NewCollapsingLowestDenseStore(MaxBins) }

// New returns an empty aggregate.
func New() *Aggregate {
	return &Aggregate{latency: ddsketch.NewDDSketch(newMapping(), newStore(), newStore())}
}

// Call is what one tool call adds to an aggregate.
type Call struct {
	DurationMs        float64
	Error             bool
	BytesIn, BytesOut uint64
}

// Add records one call. The duration must be finite and >= 0 (validated by the caller);
// otherwise Add returns an error and changes nothing.
func (a *Aggregate) Add(c Call) error {
	if math.IsNaN(c.DurationMs) || math.IsInf(c.DurationMs, 0) || c.DurationMs < 0 {
		return fmt.Errorf("duration %v cannot be recorded", c.DurationMs)
	}
	if err := a.latency.Add(c.DurationMs); err != nil {
		return fmt.Errorf("duration %v cannot be recorded: %w", c.DurationMs, err)
	}
	if a.Calls == 0 || c.DurationMs < a.minMs {
		a.minMs = c.DurationMs
	}
	if a.Calls == 0 || c.DurationMs > a.maxMs {
		a.maxMs = c.DurationMs
	}
	t := Totals{Calls: 1, BytesIn: c.BytesIn, BytesOut: c.BytesOut, DurationMs: c.DurationMs}
	if c.Error {
		t.Errors = 1
	}
	a.Totals.Add(t)
	return nil
}

// Merge folds o into a.
func (a *Aggregate) Merge(o *Aggregate) error {
	if err := a.latency.MergeWith(o.latency); err != nil {
		return err
	}
	switch {
	case o.Calls == 0:
	case a.Calls == 0:
		a.minMs, a.maxMs = o.minMs, o.maxMs
	default:
		a.minMs, a.maxMs = min(a.minMs, o.minMs), max(a.maxMs, o.maxMs)
	}
	a.Totals.Add(o.Totals)
	return nil
}

// Quantile returns the duration at quantile q (0 <= q <= 1), or 0 for an empty aggregate.
func (a *Aggregate) Quantile(q float64) float64 {
	v, err := a.latency.GetValueAtQuantile(q)
	if err != nil {
		return 0 // empty
	}
	return min(max(v, a.minMs), a.maxMs)
}

// Marshal encodes a: version | uvarint calls, errors, bytes in, bytes out | float64 duration,
// min and max (8 bytes each, big-endian) | the DDSketch in its own encoding, index mapping
// included, so a sketch written with another accuracy is refused on decode instead of merged
// wrongly.
func (a *Aggregate) Marshal() []byte {
	b := make([]byte, 0, 64)
	b = append(b, encodingVersion)
	for _, v := range []uint64{a.Calls, a.Errors, a.BytesIn, a.BytesOut} {
		b = binary.AppendUvarint(b, v)
	}
	for _, f := range []float64{a.DurationMs, a.minMs, a.maxMs} {
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	}
	a.latency.Encode(&b, false)
	return b
}

// ErrCorrupt is wrapped by Decode for bytes that are not an encoded aggregate.
var ErrCorrupt = errors.New("aggregate cannot be decoded")

// Decode is the inverse of Marshal.
func Decode(b []byte) (*Aggregate, error) {
	if len(b) == 0 || b[0] != encodingVersion {
		return nil, fmt.Errorf("%w: unknown encoding version", ErrCorrupt)
	}
	b = b[1:]
	var t [4]uint64
	for i := range t {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("%w: bad totals", ErrCorrupt)
		}
		t[i], b = v, b[n:]
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%w: no durations", ErrCorrupt)
	}
	f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(b[8*i:])) }
	a := &Aggregate{Totals: Totals{Calls: t[0], Errors: t[1], BytesIn: t[2], BytesOut: t[3], DurationMs: f(0)},
		minMs: f(1), maxMs: f(2)}
	sketch, err := ddsketch.DecodeDDSketch(b[24:], newStore, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: sketch: %v", ErrCorrupt, err)
	}
	if sketch.IndexMapping == nil || !sketch.IndexMapping.Equals(newMapping()) {
		return nil, fmt.Errorf("%w: sketch has another index mapping", ErrCorrupt)
	}
	a.latency = sketch
	return a, nil
}
