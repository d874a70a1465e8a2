package proxy

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxHold bounds how long a result waits for the notifications read before it.
const maxHold = 200 * time.Millisecond

// ordering keeps a call's notifications ahead of its result. The SDK hands a response
// straight to the waiting caller but queues notifications, so a result can overtake the log
// lines and progress the upstream sent before it, and the client would see the call end first
// and lose them. ordering counts relayable notifications as the upstream connection reads them
// and again once relayed; a result is held until everything read before it is relayed.
type ordering struct {
	mu      sync.Mutex
	seen    uint64
	relayed uint64
	moved   chan struct{} // closed and replaced whenever relayed grows
}

func newOrdering() *ordering { return &ordering{moved: make(chan struct{})} }

func relayable(method string) bool {
	return method == "notifications/message" || method == "notifications/progress" ||
		method == "notifications/resources/updated" || strings.HasSuffix(method, "/list_changed")
}

func (o *ordering) read(msg jsonrpc.Message) {
	if r, ok := msg.(*jsonrpc.Request); ok && !r.ID.IsValid() && relayable(r.Method) {
		o.mu.Lock()
		o.seen++
		o.mu.Unlock()
	}
}

func (o *ordering) done() {
	o.mu.Lock()
	o.relayed++
	close(o.moved)
	o.moved = make(chan struct{})
	o.mu.Unlock()
}

// mark is how many relayable notifications have been read so far.
func (o *ordering) mark() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen
}

// wait returns once `upTo` notifications are relayed, or after maxHold.
func (o *ordering) wait(upTo uint64) {
	timeout := time.NewTimer(maxHold)
	defer timeout.Stop()
	for {
		o.mu.Lock()
		relayed, moved := o.relayed, o.moved
		o.mu.Unlock()
		if relayed >= upTo {
			return
		}
		select {
		case <-moved:
		case <-timeout.C:
			return
		}
	}
}

// countingTransport wraps the upstream transport to count what its connection reads.
type countingTransport struct {
	mcp.Transport
	order *ordering
}

func (t countingTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return countingConn{Connection: c, order: t.order}, nil
}

type countingConn struct {
	mcp.Connection
	order *ordering
}

func (c countingConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		c.order.read(msg)
	}
	return msg, err
}
