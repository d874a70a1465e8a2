package aggregate

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the value of rank q·(n-1) (rounded down) in sorted: the definition the
// sketch's guarantee refers to.
func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func distributions() map[string][]float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	out := map[string][]float64{}
	uniform := make([]float64, 50000)
	for i := range uniform {
		uniform[i] = 1 + rng.Float64()*999 // 1..1000 ms
	}
	out["uniform 1-1000ms"] = uniform
	lognormal := make([]float64, 50000)
	for i := range lognormal {
		lognormal[i] = math.Exp(3 + 1.5*rng.NormFloat64()) // heavy tail around 20 ms
	}
	out["lognormal"] = lognormal
	bimodal := make([]float64, 20000)
	for i := range bimodal {
		if i%10 == 0 {
			bimodal[i] = 5000 + rng.Float64()*1000 // 10% slow calls
		} else {
			bimodal[i] = 0.2 + rng.Float64()*2
		}
	}
	out["bimodal cache hits and slow calls"] = bimodal
	steps := make([]float64, 0, 10000)
	for i := range 10000 {
		steps = append(steps, float64(i%100)+1) // 1..100 ms, each 100 times
	}
	out["integers 1-100ms"] = steps
	return out
}

func TestQuantilesWithinRelativeAccuracy(t *testing.T) {
	for name, values := range distributions() {
		t.Run(name, func(t *testing.T) {
			a := New()
			for _, v := range values {
				if err := a.Add(Call{DurationMs: v}); err != nil {
					t.Fatal(err)
				}
			}
			sorted := slices.Sorted(slices.Values(values))
			for _, q := range []float64{0.5, 0.95, 0.99, 0, 1} {
				got, want := a.Quantile(q), exactQuantile(sorted, q)
				if rel := math.Abs(got-want) / want; rel > RelativeAccuracy {
					t.Errorf("q%.2f = %.4f, exact %.4f: relative error %.4f > %.2f", q, got, want, rel, RelativeAccuracy)
				}
			}
		})
	}
}

// Splitting the calls over many aggregates, encoding them and merging the decoded ones gives
// the same totals and quantiles as recording them all in one.
func TestMergeOfDecodedPartsEqualsWhole(t *testing.T) {
	values := distributions()["lognormal"]
	whole := New()
	parts := make([]*Aggregate, 7)
	for i := range parts {
		parts[i] = New()
	}
	for i, v := range values {
		c := Call{DurationMs: math.Round(v), Error: i%13 == 0, BytesIn: uint64(i), BytesOut: uint64(2 * i)}
		if err := whole.Add(c); err != nil {
			t.Fatal(err)
		}
		if err := parts[i%len(parts)].Add(c); err != nil {
			t.Fatal(err)
		}
	}
	merged := New()
	for _, p := range parts {
		d, err := Decode(p.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		if err := merged.Merge(d); err != nil {
			t.Fatal(err)
		}
	}
	if merged.Totals != whole.Totals {
		t.Fatalf("merged totals %+v, whole %+v", merged.Totals, whole.Totals)
	}
	for _, q := range []float64{0.5, 0.95, 0.99} {
		if merged.Quantile(q) != whole.Quantile(q) {
			t.Fatalf("q%.2f: merged %v, whole %v", q, merged.Quantile(q), whole.Quantile(q))
		}
	}
}

// Quantiles are clamped to the exact extremes: one call's percentiles are its duration.
func TestSingleCallPercentilesAreExact(t *testing.T) {
	a := New()
	if err := a.Add(Call{DurationMs: 42}); err != nil {
		t.Fatal(err)
	}
	d, err := Decode(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	if err := m.Merge(d); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if a.Quantile(q) != 42 || m.Quantile(q) != 42 {
			t.Fatalf("q%v of one 42 ms call = %v (decoded and merged %v)", q, a.Quantile(q), m.Quantile(q))
		}
	}
}

func TestEmptyAndZero(t *testing.T) {
	a := New()
	if a.Quantile(0.5) != 0 {
		t.Fatalf("empty p50 = %v, want 0", a.Quantile(0.5))
	}
	d, err := Decode(a.Marshal())
	if err != nil || d.Calls != 0 {
		t.Fatalf("empty round trip: %+v %v", d, err)
	}
	if err := d.Add(Call{DurationMs: 0}); err != nil || d.Quantile(0.99) != 0 || d.Calls != 1 {
		t.Fatalf("zero duration: calls %d p99 %v err %v", d.Calls, d.Quantile(0.99), err)
	}
}

func TestRefusesBadDurationsAndBytes(t *testing.T) {
	a := New()
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1} {
		if err := a.Add(Call{DurationMs: v}); err == nil {
			t.Errorf("Add(%v) accepted", v)
		}
	}
	if a.Calls != 0 {
		t.Fatalf("refused calls were counted: %+v", a.Totals)
	}
	for _, b := range [][]byte{nil, {9}, {encodingVersion}, {encodingVersion, 1, 1, 1, 1}, {encodingVersion, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%x) = %v, want ErrCorrupt", b, err)
		}
	}
}

func TestTotalsSaturate(t *testing.T) {
	tot := Totals{BytesIn: math.MaxUint64 - 1}
	tot.Add(Totals{BytesIn: 5, Calls: 1})
	if tot.BytesIn != math.MaxUint64 || tot.Calls != 1 {
		t.Fatalf("saturating add: %+v", tot)
	}
}
