package telemetry_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// STATE-011: the original opened its telemetry file again for every event. Here the store is
// opened once at start and every record goes through the single writer into it, so events
// cost no file handles. Thousands of records later, the process holds exactly the same open
// files under the data dir (same descriptors, same paths) and the data dir holds the same
// files: nothing was opened per event and left open, and no file was created per event.
// (Opening and closing a file per event would leave no trace here; no code path of the
// recorder touches the filesystem, which is why that cannot happen.)
func TestSTATE011RecordsOpenNoFilesPerEvent(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))
	openBefore, filesBefore := openUnder(t, dir), filesIn(t, dir)
	if len(openBefore) == 0 {
		t.Fatalf("no open file under %s: the check would prove nothing", dir)
	}

	batch := make([]*telemetryv1.ToolCall, 0, 5000)
	for i := range cap(batch) {
		c := okCall(fmt.Sprintf("s-%d", i%50), fmt.Sprintf("tool_%d", i%7), 2)
		c.CorrelationId = fmt.Sprintf("c-%d", i)
		batch = append(batch, c)
	}
	recordConcurrently(t, r.client, batch, 16)

	if s := mustSummary(t, r.client, &telemetryv1.GetSummaryRequest{}); s.GetToolCalls() != uint64(len(batch)) {
		t.Fatalf("summary counts %d calls, want %d", s.GetToolCalls(), len(batch))
	}
	if after := openUnder(t, dir); !equalMaps(after, openBefore) {
		t.Errorf("open files under the data dir changed:\nbefore %v\nafter  %v", openBefore, after)
	}
	if after := filesIn(t, dir); !equalMaps(after, filesBefore) {
		t.Errorf("files in the data dir changed:\nbefore %v\nafter  %v", filesBefore, after)
	}
}

// openUnder maps this process's descriptors that point under dir to their paths.
func openUnder(t *testing.T, dir string) map[string]string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("list open files: %v", err)
	}
	out := map[string]string{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) {
			out[fd.Name()] = target
		}
	}
	return out
}

// filesIn maps the names of the files in dir to themselves.
func filesIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		out[e.Name()] = e.Name()
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
