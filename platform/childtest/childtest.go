// Package childtest runs the test binary itself as a child process that serves a service, so
// crash tests can kill it with SIGKILL and restart it on the same data. The child is the same
// binary with an environment variable set: its TestMain sees the variable, serves, and calls
// Announce with its addresses; the parent's Start waits for that line.
package childtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const announcement = "ADDR"

// Announce is called by the child once it serves: it tells the parent its addresses.
func Announce(addrs ...string) {
	fmt.Printf("%s %s\n", announcement, strings.Join(addrs, " "))
}

// Child is a running child process.
type Child struct {
	cmd *exec.Cmd
	// Addrs are the addresses the child announced, in order.
	Addrs []string
}

// Start runs the test binary (no tests) with env added (NAME=VALUE entries) and waits until
// the child announces its addresses.
func Start(t testing.TB, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	fields := strings.Fields(line)
	if err != nil || len(fields) < 2 || fields[0] != announcement {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q %v; stderr: %s", line, err, stderr.String())
	}
	return &Child{cmd: cmd, Addrs: fields[1:]}
}

// Kill sends SIGKILL, so no shutdown code of the child runs, and waits for it to exit.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}
