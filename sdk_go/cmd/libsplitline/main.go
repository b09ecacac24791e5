// Command libsplitline is the Go assignment core as a C shared library, for
// the Python sidecar's hot path.
//
// Why: the sidecar is Python, and on small machines Python spends ~60 µs per
// fast-path request decoding, evaluating and encoding, where the Go core (the
// same contract, passing the same vectors file and the 100k differential test)
// spends a few microseconds. Build with
//
//	go build -buildmode=c-shared -o libsplitline.so ./cmd/libsplitline
//
// The library answers only the common case: a well-formed Assign request
// within the sidecar's limits that does not ask to log exposures. Anything
// else (parse errors, limits, LogExposures, Track, no body) is handed back to
// the caller, whose own code answers it; so every error message, field name
// and event rule stays in one place (splitline.sidecar.requests).
//
// No export panics into the caller: each recovers and hands the work back
// (a Go panic would otherwise end the whole sidecar process).
//
// Interface (all integers int64, all buffers caller-owned):
//
//	SplitlineCompile(snapshot, n) -> handle > 0, or 0 when it does not compile
//	SplitlineRelease(handle)
//	SplitlineAssign(handle, req, n, out, cap) -> response length, or -1 (caller answers)
//	SplitlineServe(handle, in, start, end, out, cap, stats) -> status (see serve.go)
package main

import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/splitline/splitline/sdk_go/core"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

var (
	handles    sync.Map // int64 -> *index
	nextHandle atomic.Int64
)

func lookup(h C.longlong) *index {
	v, ok := handles.Load(int64(h))
	if !ok {
		return nil
	}
	return v.(*index)
}

func bytesAt(p unsafe.Pointer, n C.longlong) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(n))
}

//export SplitlineCompile
func SplitlineCompile(data unsafe.Pointer, n C.longlong) (handle C.longlong) {
	defer func() {
		if recover() != nil {
			handle = 0 // the Python core serves this snapshot
		}
	}()
	snapshot := &pb.ConfigSnapshot{}
	// Copy: the caller's buffer is only borrowed for the call.
	if err := proto.Unmarshal(append([]byte(nil), bytesAt(data, n)...), snapshot); err != nil {
		return 0
	}
	compiled, err := core.Compile(snapshot)
	if err != nil {
		return 0
	}
	h := nextHandle.Add(1)
	handles.Store(h, newIndex(compiled))
	return C.longlong(h)
}

//export SplitlineRelease
func SplitlineRelease(h C.longlong) {
	handles.Delete(int64(h))
}

//export SplitlineAssign
func SplitlineAssign(h C.longlong, req unsafe.Pointer, n C.longlong, out unsafe.Pointer,
	outCap C.longlong) (written C.longlong) {
	defer func() {
		if recover() != nil {
			written = -1 // a bug here must not take the sidecar down: the caller answers
		}
	}()
	ix := lookup(h)
	if ix == nil {
		return -1
	}
	r := &pb.AssignRequest{}
	if proto.Unmarshal(bytesAt(req, n), r) != nil {
		return -1
	}
	dst := bytesAt(out, outCap)
	body, ok := ix.answer(dst[:0], r)
	if !ok || len(body) > len(dst) || (len(body) > 0 && &body[0] != &dst[0]) {
		return -1 // not ours to answer, or it would not fit in the caller's buffer
	}
	return C.longlong(len(body))
}

func main() {}
