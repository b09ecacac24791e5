// Package follow feeds a local-mode client from the sidecar's snapshot
// stream (AssignmentService.GetSnapshot over gRPC on the sidecar's Unix
// socket): every new revision is validated, compiled and swapped in
// atomically; a snapshot that does not compile is skipped and the last good
// one stays in service; a broken stream is reopened with backoff, from the
// revision already held.
//
// It lives in its own package so that programs using only the evaluator or
// the fast path do not link gRPC.
package follow

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/splitline/splitline/sdk_go/core"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// Target is what receives snapshots; *splitline.Local is one.
type Target interface {
	Snapshot() *core.Snapshot
	Swap(*core.Snapshot)
}

const getSnapshotMethod = "/splitline.v1.AssignmentService/GetSnapshot"

var getSnapshotDesc = &grpc.StreamDesc{StreamName: "GetSnapshot", ServerStreams: true}

// Options tune Sidecar; zero values take the defaults.
type Options struct {
	MinBackoff, MaxBackoff time.Duration // default 100ms, 5s
	OnError                func(error)   // hears about stream errors and refused snapshots
	OnSwap                 func(revision uint64)
}

// Sidecar follows the snapshot stream of the sidecar whose gRPC socket is at
// socketPath, swapping each new snapshot into target, until ctx ends.
func Sidecar(ctx context.Context, socketPath string, target Target, opts Options) error {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	conn, err := grpc.NewClient("unix://"+socketPath,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	backoff := opts.MinBackoff
	for {
		got, err := stream(ctx, conn, target, opts)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if got {
			backoff = opts.MinBackoff
		}
		if opts.OnError != nil && err != nil {
			opts.OnError(fmt.Errorf("follow: snapshot stream: %w", err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, opts.MaxBackoff)
	}
}

// stream reads one GetSnapshot stream; got reports whether it delivered anything.
func stream(ctx context.Context, conn *grpc.ClientConn, target Target, opts Options) (bool, error) {
	known := uint64(0)
	if s := target.Snapshot(); s != nil {
		known = s.Revision()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := conn.NewStream(ctx, getSnapshotDesc, getSnapshotMethod, grpc.WaitForReady(true))
	if err != nil {
		return false, err
	}
	if err := st.SendMsg(&pb.GetSnapshotRequest{KnownRevision: known}); err != nil {
		return false, err
	}
	if err := st.CloseSend(); err != nil {
		return false, err
	}
	got := false
	for {
		resp := &pb.GetSnapshotResponse{}
		if err := st.RecvMsg(resp); err != nil {
			return got, err
		}
		got = true
		compiled, err := core.Compile(resp.GetSnapshot())
		if err != nil {
			if opts.OnError != nil {
				opts.OnError(fmt.Errorf("follow: refused revision %d: %w", resp.GetSnapshot().GetRevision(), err))
			}
			continue
		}
		if cur := target.Snapshot(); cur != nil && compiled.Revision() < cur.Revision() {
			continue // never go back in time
		}
		target.Swap(compiled)
		if opts.OnSwap != nil {
			opts.OnSwap(compiled.Revision())
		}
	}
}
