package recorder

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// covered expands ranges into the minutes they cover, failing on overlaps or misalignment.
func covered(t *testing.T, ranges []BucketRange, limit int64) []int64 {
	t.Helper()
	var minutes []int64
	for _, r := range ranges {
		if r.From%int64(r.Level) != 0 || r.To%int64(r.Level) != 0 && r.To < limit {
			t.Fatalf("range %+v is not aligned to its level", r)
		}
		for m := r.From; m < r.To && m < limit; m++ {
			minutes = append(minutes, m)
		}
	}
	slices.Sort(minutes)
	if len(slices.Compact(slices.Clone(minutes))) != len(minutes) {
		t.Fatalf("ranges %+v overlap", ranges)
	}
	return minutes
}

func TestDecomposeCoversExactlyTheWindowWithFewBuckets(t *testing.T) {
	cases := [][2]int64{
		{0, 1}, {5, 59}, {59, 61}, {60, 120}, {61, 1500}, {1440, 2880}, {1439, 2881},
		{7, 10 * 1440}, {1440 + 60, 3*1440 - 60}, {100, 100 + 1440 - 1},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		a := rng.Int64N(20 * 1440)
		cases = append(cases, [2]int64{a, a + 1 + rng.Int64N(20*1440)})
	}
	for _, c := range cases {
		ranges := Decompose(c[0], c[1])
		got := covered(t, ranges, c[1])
		if int64(len(got)) != c[1]-c[0] || got[0] != c[0] || got[len(got)-1] != c[1]-1 {
			t.Fatalf("Decompose(%d, %d) = %+v covers %d minutes from %d", c[0], c[1], ranges, len(got), got[0])
		}
		// At most 59 minutes and 23 hours at each end, days in between: 5 ranges.
		if len(ranges) > 5 {
			t.Fatalf("Decompose(%d, %d) used %d ranges", c[0], c[1], len(ranges))
		}
		buckets := int64(0)
		for _, r := range ranges {
			buckets += (r.To - r.From) / int64(r.Level)
		}
		if days := (c[1] - c[0]) / 1440; buckets > 2*59+2*23+days+1 {
			t.Fatalf("Decompose(%d, %d) reads %d buckets", c[0], c[1], buckets)
		}
	}
	// An open end is one day range to the end, after the head.
	if r := Decompose(61, openEnd); len(r) != 3 || r[2].Level != LevelDay || r[2].To <= r[2].From {
		t.Fatalf("open window = %+v", r)
	}
}

func TestMinuteRounding(t *testing.T) {
	at := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		t           time.Time
		floor, ceil int64
	}{
		{at, at.Unix() / 60, at.Unix() / 60},
		{at.Add(time.Nanosecond), at.Unix() / 60, at.Unix()/60 + 1},
		{at.Add(59 * time.Second), at.Unix() / 60, at.Unix()/60 + 1},
		{time.Unix(-30, 0), -1, 0},
	} {
		if f, cl := floorMinute(c.t), ceilMinute(c.t); f != c.floor || cl != c.ceil {
			t.Fatalf("%v: floor %d ceil %d, want %d %d", c.t, f, cl, c.floor, c.ceil)
		}
	}
}
