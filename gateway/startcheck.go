package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startCheckTimeout is how long after start each service has to answer before the gateway
// says it is unreachable.
const startCheckTimeout = 10 * time.Second

// checkServices asks each service's gRPC health endpoint, at once, and logs an error naming
// every one that does not answer SERVING within startCheckTimeout. It does not hold start-up:
// a service may come up after the gateway (the connections retry), and fail-open modes are
// the operator's choice; but the log says what is missing, instead of the first agent's call
// failing.
func checkServices(ctx context.Context, log *slog.Logger, conns map[string]*grpc.ClientConn, within time.Duration) (unreachable []string) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, conn := range conns {
		wg.Go(func() {
			res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
			if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING || parent.Err() != nil {
				return // serving, or the gateway is stopping: nothing to say
			}
			status := res.GetStatus().String()
			if err != nil {
				status = err.Error()
			}
			log.Error("service unreachable at start-up; calls that need it will fail until it answers", "service", name, "addr", conn.Target(), "status", status)
			mu.Lock()
			unreachable = append(unreachable, name)
			mu.Unlock()
		})
	}
	wg.Wait()
	return unreachable
}

// checkServices checks the four services in the background, as the gateway starts (`osiris
// up` starts them at the same moment); wait waits for the check to end, before the
// connections close.
func (g *Gateway) checkServices(ctx context.Context) (wait func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		checkServices(ctx, g.log, map[string]*grpc.ClientConn{"audit": g.conn, "telemetry": g.tconn, "cache": g.cconn, "session": g.sconn}, startCheckTimeout)
	}()
	return func() { cancel(); <-done }
}
