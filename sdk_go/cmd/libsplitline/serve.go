package main

import "C"

import (
	"encoding/binary"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// SplitlineServe statuses.
const (
	serveIncomplete = 0  // no complete frame left at stats[0]
	serveCaller     = 1  // the frame at stats[0] is the caller's to answer
	serveOutFull    = 2  // the output buffer is full: call again
	serveBadHandle  = -1 // released or unknown handle
)

// The fast path's frame limit (splitline.sidecar.fastpath.MAX_FRAME_BYTES).
const maxFrameBytes = 4 << 20

// stats layout: [0] offset reached in the input, [1] bytes written to out,
// [2] requests answered, [3] their summed handling time in ns, then one
// count per latency bucket (len(bounds)+1, the last one +Inf).
const statsHead = 4

//export SplitlineServe
func SplitlineServe(h C.longlong, in unsafe.Pointer, start, end C.longlong, out unsafe.Pointer, outCap C.longlong,
	bounds *C.double, nbounds C.longlong, stats *C.longlong) (status C.longlong) {
	defer func() {
		if recover() != nil {
			status = serveCaller // stats hold the frames answered so far; the caller takes the rest
		}
	}()
	st := unsafe.Slice((*int64)(unsafe.Pointer(stats)), statsHead+int(nbounds)+1)
	for i := range st {
		st[i] = 0
	}
	st[0] = int64(start)
	ix := lookup(h)
	if ix == nil {
		return serveBadHandle
	}
	le := unsafe.Slice((*float64)(unsafe.Pointer(bounds)), int(nbounds))
	src := bytesAt(in, end)
	dst := bytesAt(out, outCap)[:0]
	var scratch []byte
	req := &pb.FastPathRequest{}
	pos := int(start)
	for {
		if len(src)-pos < 4 {
			return serveIncomplete
		}
		n := int(binary.BigEndian.Uint32(src[pos:]))
		if n > maxFrameBytes {
			return serveCaller
		}
		if len(src)-pos-4 < n {
			return serveIncomplete
		}
		if !assignFrame(src[pos+4 : pos+4+n]) {
			return serveCaller // events and errors: not worth parsing here
		}
		t0 := time.Now()
		proto.Reset(req)
		if proto.Unmarshal(src[pos+4:pos+4+n], req) != nil {
			return serveCaller
		}
		assign := req.GetAssign()
		if assign == nil {
			return serveCaller
		}
		var ok bool
		scratch, ok = ix.answer(scratch[:0], assign)
		if !ok {
			return serveCaller
		}
		msg := 0
		if rid := req.GetRequestId(); rid != 0 {
			msg += protowire.SizeTag(1) + protowire.SizeVarint(rid)
		}
		msg += protowire.SizeTag(2) + protowire.SizeBytes(len(scratch))
		if cap(dst)-len(dst) < 4+msg {
			return serveOutFull
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(msg))
		if rid := req.GetRequestId(); rid != 0 {
			dst = protowire.AppendTag(dst, 1, protowire.VarintType)
			dst = protowire.AppendVarint(dst, rid)
		}
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendBytes(dst, scratch)
		pos += 4 + n
		elapsed := time.Since(t0)
		st[0] = int64(pos)
		st[1] = int64(len(dst))
		st[2]++
		st[3] += elapsed.Nanoseconds()
		seconds := elapsed.Seconds()
		b := 0
		for b < len(le) && seconds > le[b] {
			b++
		}
		st[statsHead+b]++
	}
}

// assignFrame reports whether a FastPathRequest holds only top-level fields
// 1 (request_id) and 2 (assign), without parsing their contents: LogExposures
// and Track frames carry up to thousands of events the caller handles, and
// parsing them here first would double their cost.
func assignFrame(msg []byte) bool {
	seen := false
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 || num > 2 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return false
		}
		seen = seen || num == 2
		msg = msg[n+m:]
	}
	return seen
}
