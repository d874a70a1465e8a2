package recorder

// Level is the length of a bucket of a time window, in minutes. Every call is added to the
// bucket of each level that holds its time, so a window of any length is answered from a
// bounded number of buckets: at most 59 minutes and 23 hours at each end, days in between.
type Level int64

// The bucket levels. Buckets are aligned on the Unix epoch, so days are UTC days.
const (
	LevelMinute Level = 1
	LevelHour   Level = 60
	LevelDay    Level = 1440
)

// levels lists every level; each call goes into one bucket of each.
func levels() [3]Level { return [3]Level{LevelMinute, LevelHour, LevelDay} }

// BucketRange selects the buckets of one level whose start lies in [From, To), in minutes
// since the Unix epoch.
type BucketRange struct {
	Level    Level
	From, To int64
}

// bucketStart is the start of the bucket of level l that holds minute m.
func bucketStart(m int64, l Level) int64 { return m - m%int64(l) }

func ceilTo(m int64, l Level) int64 {
	if r := m % int64(l); r != 0 {
		return m + int64(l) - r
	}
	return m
}

// Decompose covers the minutes [from, to) with the fewest aligned buckets: minutes up to the
// first whole hour, hours up to the first whole day, days, then hours and minutes again.
// to may be far in the future (an open window); from must be >= 0 and below to.
func Decompose(from, to int64) []BucketRange {
	var out []BucketRange
	add := func(l Level, a, b int64) {
		if a < b {
			out = append(out, BucketRange{Level: l, From: a, To: b})
		}
	}
	h1, h2 := ceilTo(from, LevelHour), bucketStart(to, LevelHour)
	if h1 >= h2 {
		add(LevelMinute, from, to)
		return out
	}
	add(LevelMinute, from, h1)
	d1, d2 := ceilTo(h1, LevelDay), bucketStart(h2, LevelDay)
	if d1 >= d2 {
		add(LevelHour, h1, h2)
	} else {
		add(LevelHour, h1, d1)
		add(LevelDay, d1, d2)
		add(LevelHour, d2, h2)
	}
	add(LevelMinute, h2, to)
	return out
}
