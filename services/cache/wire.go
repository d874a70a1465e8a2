package cache

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/osirisplane/osiris/platform/lifecycle"
	"github.com/osirisplane/osiris/services/cache/internal/badgerstore"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

// open builds the entry cache on the store and registers its instruments.
func (s *Service) open() error {
	// The instruments read s.cache only when collected, which starts after New returns.
	if err := s.observe(s.lc.Meter()); err != nil {
		return err
	}
	c, err := entrycache.Open(badgerstore.New(s.lc.DB()), entrycache.Config{
		MaxValueBytes:   s.cfg.MaxValueBytes,
		MaxEntries:      s.cfg.MaxEntries,
		MaxBytes:        s.cfg.MaxBytes,
		MaxPendingBytes: s.cfg.MaxPendingBytes,
		DefaultTTL:      s.cfg.DefaultTTL,
		MaxTTL:          s.cfg.MaxTTL,
		ExpiryInterval:  s.cfg.ExpiryInterval,
		Queue:           s.lc.Queue(),
		Now:             s.cfg.Now,
		Elapsed:         s.cfg.Elapsed,
		Log:             s.lc.Log(),
	})
	if err != nil {
		return err
	}
	s.cache = c
	s.lc.Attach(lifecycle.Domain{Close: c.Close, QueueLen: c.QueueLen})
	return c.Clock().Register(s.lc.Meter())
}

// observe exports the cache's statistics.
func (s *Service) observe(meter metric.Meter) error {
	entries, err := meter.Int64ObservableGauge("osiris.cache.entries", metric.WithDescription("entries stored"))
	if err != nil {
		return err
	}
	size, err := meter.Int64ObservableGauge("osiris.cache.bytes", metric.WithDescription("bytes accounted to stored entries"), metric.WithUnit("By"))
	if err != nil {
		return err
	}
	counters := map[string]metric.Int64ObservableCounter{}
	for _, name := range []string{"hits", "misses", "evictions", "expirations"} {
		c, err := meter.Int64ObservableCounter("osiris.cache."+name, metric.WithDescription("cache "+name+" since the store was created"))
		if err != nil {
			return err
		}
		counters[name] = c
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := s.cache.Stats()
		o.ObserveInt64(entries, int64(st.Entries))
		o.ObserveInt64(size, int64(st.Bytes))
		o.ObserveInt64(counters["hits"], int64(st.Hits))
		o.ObserveInt64(counters["misses"], int64(st.Misses))
		o.ObserveInt64(counters["evictions"], int64(st.Evictions))
		o.ObserveInt64(counters["expirations"], int64(st.Expirations))
		return nil
	}, entries, size, counters["hits"], counters["misses"], counters["evictions"], counters["expirations"])
	return err
}
