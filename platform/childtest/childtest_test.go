package childtest

import (
	"os"
	"testing"
	"time"
)

const env = "CHILDTEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(env) != "" {
		Announce("127.0.0.1:1", "127.0.0.1:2")
		time.Sleep(time.Minute) // serve until killed
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartReadsTheAnnouncementAndKillEndsTheChild(t *testing.T) {
	c := Start(t, env+"=1")
	if len(c.Addrs) != 2 || c.Addrs[0] != "127.0.0.1:1" || c.Addrs[1] != "127.0.0.1:2" {
		t.Fatalf("addrs %v", c.Addrs)
	}
	done := make(chan struct{})
	go func() { c.Kill(t); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Kill did not end the child")
	}
}
