package splitline

import (
	"context"
	"testing"

	"github.com/splitline/splitline/sdk_go/internal/fakesidecar"
)

// BenchmarkRemoteAssign: one Assign round trip over the fast path to an
// in-process fake sidecar (client + framing + Unix socket cost).
func BenchmarkRemoteAssign(b *testing.B) {
	srv := fakesidecar.Start(b, mainSnapshot(b))
	r := NewRemote(srv.Path, RemoteOptions{NoExposures: true})
	defer r.Close()
	ctx := context.Background()
	units := map[string]string{"user_id": "12345"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Assign(ctx, "checkout_copy", units, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemoteAssignParallel: pipelined calls from many goroutines on one connection.
func BenchmarkRemoteAssignParallel(b *testing.B) {
	srv := fakesidecar.Start(b, mainSnapshot(b))
	r := NewRemote(srv.Path, RemoteOptions{NoExposures: true})
	defer r.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		units := map[string]string{"user_id": "12345"}
		for pb.Next() {
			if _, err := r.Assign(ctx, "checkout_copy", units, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLocalAssign: the Local client (atomic snapshot load + core.Assign).
func BenchmarkLocalAssign(b *testing.B) {
	c := NewLocal(mainSnapshot(b), LocalOptions{})
	units := map[string]string{"user_id": "12345"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = c.Assign("checkout_copy", units, nil)
	}
}
