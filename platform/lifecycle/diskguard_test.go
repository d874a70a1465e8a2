package lifecycle

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/platform/badgerdb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The guard refuses below the threshold, keeps refusing until free space is back above the
// threshold plus its margin, and tells readiness each time the state changes.
func TestDiskGuardRefusesAndRecoversWithMargin(t *testing.T) {
	var free uint64
	var changes []bool
	g := newDiskGuard("/data", 100<<20, slog.New(slog.NewTextHandler(io.Discard, nil)), func(full bool) { changes = append(changes, full) })
	g.statfs = func(string) (uint64, error) { return free, nil }
	steps := []struct {
		free    uint64
		refused bool
	}{
		{200 << 20, false},
		{99 << 20, true},
		{105 << 20, true}, // above the threshold, inside the margin: still refused
		{113 << 20, false},
		{101 << 20, false},
	}
	for _, s := range steps {
		free = s.free
		err := g.check()
		if (err != nil) != s.refused {
			t.Fatalf("free %d: err %v, want refused %v", s.free, err, s.refused)
		}
		if err != nil && (!errors.Is(err, apierr.ErrResourceExhausted) || !strings.Contains(err.Error(), "disk almost full")) {
			t.Fatalf("refusal %q does not say the disk is full, or does not wrap ErrResourceExhausted", err)
		}
	}
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Fatalf("readiness changes %v, want [full, not full]", changes)
	}
	if g.refused.Load() != 2 {
		t.Fatalf("refused %d, want 2", g.refused.Load())
	}
}

func TestMinFreeBytesCoversTheNextFiles(t *testing.T) {
	s := Defaults("/data", "127.0.0.1:0", "127.0.0.1:0")
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	s.Store = badgerdb.Options{MemTableSize: 64 << 20}
	s.MinFreeBytes = 255 << 20
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "--min-free-bytes must be at least 268435456") {
		t.Fatalf("min-free-bytes below 4 memtables: %v", err)
	}
}
