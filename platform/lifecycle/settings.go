package lifecycle

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/platform/serve"
	"github.com/osirisplane/osiris/platform/writer"
)

// Bounds of the shared settings, checked by Validate.
const (
	MaxQueueDepth = 1 << 20
	// DefaultMinFreeBytes is the free space below which writes are refused. It is well above
	// MinFreeFloor of the default store sizes (128 MiB).
	DefaultMinFreeBytes = 256 << 20
	// DefaultGCInterval is how often value-log garbage collection runs.
	DefaultGCInterval = 5 * time.Minute
)

// Settings are what every service is told at start-up; each service's Config embeds them.
type Settings struct {
	DataDir         string
	GRPCAddr        string
	HTTPAddr        string
	QueueDepth      int
	ShutdownTimeout time.Duration
	GCInterval      time.Duration
	// MinFreeBytes is the free space on the data dir's file system below which writes are
	// refused (RESOURCE_EXHAUSTED) and the service reports not ready.
	MinFreeBytes int64
	// Store sizes Badger's memory; the zero value gives platform/badgerdb's defaults.
	Store badgerdb.Options
	// Edge is what the HTTP port refuses from browsers and slow clients (--allowed-hosts,
	// --body-read-timeout); the zero value gives platform/serve's defaults.
	Edge serve.Edge
}

// Defaults are the shared settings of a service listening on grpcAddr and httpAddr.
func Defaults(dataDir, grpcAddr, httpAddr string) Settings {
	return Settings{
		DataDir:         dataDir,
		GRPCAddr:        grpcAddr,
		HTTPAddr:        httpAddr,
		QueueDepth:      writer.DefaultDepth,
		ShutdownTimeout: serve.DefaultShutdownTimeout,
		GCInterval:      DefaultGCInterval,
		MinFreeBytes:    DefaultMinFreeBytes,
	}
}

// RegisterFlags declares the shared flags on fs, with s's values as defaults. queueUnit says
// what one queued write is ("writes", "requests (an Append or an AppendBatch)").
func (s *Settings) RegisterFlags(fs *flag.FlagSet, queueUnit string) {
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir, "directory of the Badger store")
	fs.StringVar(&s.GRPCAddr, "grpc-addr", s.GRPCAddr, "gRPC listen address")
	fs.StringVar(&s.HTTPAddr, "http-addr", s.HTTPAddr, "HTTP listen address (REST, /metrics, /healthz, /readyz, /openapi.json)")
	fs.IntVar(&s.QueueDepth, "queue-depth", s.QueueDepth, queueUnit+" that may wait for the writer before RESOURCE_EXHAUSTED")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", s.ShutdownTimeout, "how long shutdown waits for in-flight requests and queued writes")
	fs.DurationVar(&s.GCInterval, "gc-interval", s.GCInterval, "how often value-log garbage collection runs")
	fs.Int64Var(&s.MinFreeBytes, "min-free-bytes", s.MinFreeBytes, "free bytes on the data dir's file system below which writes are refused and the service is not ready")
	s.Edge.RegisterFlags(fs)
}

// MinFreeFloor is the least MinFreeBytes that keeps Badger off a full disk: the active WAL
// may still grow to a memtable, the next WAL takes another, flushing one writes a table of
// about the same size, and compaction needs room for one more.
func MinFreeFloor(o badgerdb.Options) int64 {
	mt := o.MemTableSize
	if mt <= 0 {
		mt = badgerdb.DefaultMemTableSize
	}
	return 4 * mt
}

// Validate reports the first shared setting that cannot work.
func (s Settings) Validate() error {
	switch {
	case s.DataDir == "":
		return errors.New("--data-dir is required")
	case s.GRPCAddr == "" || s.HTTPAddr == "":
		return errors.New("--grpc-addr and --http-addr are required")
	case s.QueueDepth < 1 || s.QueueDepth > MaxQueueDepth:
		return fmt.Errorf("--queue-depth must be between 1 and %d, got %d", MaxQueueDepth, s.QueueDepth)
	case s.ShutdownTimeout <= 0:
		return errors.New("--shutdown-timeout must be positive")
	case s.GCInterval <= 0:
		return errors.New("--gc-interval must be positive")
	case s.MinFreeBytes < MinFreeFloor(s.Store):
		return fmt.Errorf("--min-free-bytes must be at least %d (4 memtables), got %d", MinFreeFloor(s.Store), s.MinFreeBytes)
	}
	return s.Edge.Validate()
}
