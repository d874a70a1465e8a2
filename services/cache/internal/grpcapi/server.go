// Package grpcapi translates CacheService requests into entrycache calls and back.
// Validation lives in the domain, so every path into the cache gets it; errors are mapped to
// status codes by the serving platform's interceptors.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/cache/internal/discovery"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

// Server implements cachev1.CacheServiceServer.
type Server struct {
	cachev1.UnimplementedCacheServiceServer
	cache *entrycache.Cache
}

// New serves c.
func New(c *entrycache.Cache) *Server { return &Server{cache: c} }

// Get implements CacheService.Get.
func (s *Server) Get(ctx context.Context, req *cachev1.GetRequest) (*cachev1.Entry, error) {
	e, err := s.cache.Get(ctx, entrycache.ID{Namespace: req.GetNamespace(), Key: req.GetKey()})
	if err != nil {
		return nil, err
	}
	pb := entry(e.Meta)
	pb.Value = e.Value
	return pb, nil
}

// Put implements CacheService.Put. The reply leaves value empty.
func (s *Server) Put(ctx context.Context, req *cachev1.PutRequest) (*cachev1.Entry, error) {
	var ttl time.Duration
	if d := req.GetTtl(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, apierr.Invalid("ttl: %v", err)
		}
		ttl = d.AsDuration()
	}
	m, err := s.cache.Put(ctx, entrycache.ID{Namespace: req.GetNamespace(), Key: req.GetKey()}, req.GetValue(), ttl, req.GetTags())
	if err != nil {
		return nil, err
	}
	return entry(m), nil
}

// Delete implements CacheService.Delete.
func (s *Server) Delete(ctx context.Context, req *cachev1.DeleteRequest) (*cachev1.DeleteResponse, error) {
	deleted, rev, err := s.cache.Delete(ctx, entrycache.ID{Namespace: req.GetNamespace(), Key: req.GetKey()})
	if err != nil {
		return nil, err
	}
	return &cachev1.DeleteResponse{Deleted: deleted, Revision: rev}, nil
}

// InvalidateByTag implements CacheService.InvalidateByTag.
func (s *Server) InvalidateByTag(ctx context.Context, req *cachev1.InvalidateByTagRequest) (*cachev1.InvalidateByTagResponse, error) {
	n, rev, err := s.cache.InvalidateByTag(ctx, req.GetTag())
	if err != nil {
		return nil, err
	}
	return &cachev1.InvalidateByTagResponse{Removed: n, Revision: rev}, nil
}

// ClearExpired implements CacheService.ClearExpired.
func (s *Server) ClearExpired(ctx context.Context, _ *cachev1.ClearExpiredRequest) (*cachev1.ClearExpiredResponse, error) {
	n, rev, err := s.cache.ClearExpired(ctx)
	if err != nil {
		return nil, err
	}
	return &cachev1.ClearExpiredResponse{Removed: n, Revision: rev}, nil
}

// ClearAll implements CacheService.ClearAll.
func (s *Server) ClearAll(ctx context.Context, _ *cachev1.ClearAllRequest) (*cachev1.ClearAllResponse, error) {
	n, rev, err := s.cache.ClearAll(ctx)
	if err != nil {
		return nil, err
	}
	return &cachev1.ClearAllResponse{Removed: n, Revision: rev}, nil
}

// Stats implements CacheService.Stats.
func (s *Server) Stats(context.Context, *cachev1.StatsRequest) (*cachev1.StatsResponse, error) {
	st := s.cache.Stats()
	return &cachev1.StatsResponse{
		Entries: st.Entries, Bytes: st.Bytes, Hits: st.Hits, Misses: st.Misses,
		Evictions: st.Evictions, Expirations: st.Expirations,
		MaxEntries: st.MaxEntries, MaxBytes: st.MaxBytes, Revision: st.Revision,
		Now: timestamppb.New(st.Now),
	}, nil
}

// DiscoveryKey implements CacheService.DiscoveryKey.
func (s *Server) DiscoveryKey(_ context.Context, req *cachev1.DiscoveryKeyRequest) (*cachev1.DiscoveryKeyResponse, error) {
	ids, err := discovery.Compute(discovery.Request{
		ConnectionID:   req.GetConnectionId(),
		ComponentID:    req.GetComponentId(),
		Samples:        req.GetSamples(),
		IdempotencyKey: req.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, err
	}
	return &cachev1.DiscoveryKeyResponse{DiscoveryId: ids.DiscoveryID, CacheKey: ids.CacheKey}, nil
}

func entry(m entrycache.Meta) *cachev1.Entry {
	return &cachev1.Entry{
		Namespace: m.ID.Namespace,
		Key:       m.ID.Key,
		Tags:      m.Tags,
		CreatedAt: timestamppb.New(m.CreatedAt),
		ExpiresAt: timestamppb.New(m.ExpiresAt),
		Ttl:       durationpb.New(m.TTL),
		Revision:  m.Revision,
		ValueSize: uint64(m.ValueSize),
	}
}
