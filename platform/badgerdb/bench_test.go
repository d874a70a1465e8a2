package badgerdb

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkSync is the cost of a Sync after a batch that created no file, the common case,
// in a data dir with 8 table files (about what the audit benchmark's holds), next to the directory listing it replaced (one ReadDir,
// then the newest WAL and value-log names compared), measured in the same run.
func BenchmarkSync(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(dir, Options{}, discard())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := range 8 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d.sst", i)), nil, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Sync(); err != nil {
		b.Fatal(err)
	}
	newest := map[string]string{}
	listing := func() error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, ext := range []string{".mem", ".vlog"} {
			n := ""
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ext) && e.Name() > n {
					n = e.Name()
				}
			}
			newest[ext] = n
		}
		return nil
	}
	// Alternating rounds of each, the median round reported.
	per := func(f func() error) time.Duration {
		const n = 2000
		start := time.Now()
		for range n {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / n
	}
	var watch, list []time.Duration
	for b.Loop() {
		watch = append(watch, per(db.Sync))
		list = append(list, per(listing))
	}
	w, l := median(watch), median(list)
	b.ReportMetric(float64(w.Nanoseconds()), "ns/sync")
	b.ReportMetric(float64(l.Nanoseconds()), "ns/listing")
	b.ReportMetric(float64(l)/float64(w), "listing/sync")
	b.ReportMetric(0, "ns/op")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
