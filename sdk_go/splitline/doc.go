// Package splitline is the Go SDK of Splitline, the experimentation platform.
//
// Two modes decide which variant a unit sees, with the same answers (the
// evaluation contract of DESIGN.md section 2, implemented in package core and
// checked against proto/testdata/assignment_vectors.json):
//
//   - Local evaluates in process from a snapshot (a proto3 JSON file, or any
//     *core.Snapshot you hand it) and swaps snapshots atomically; an
//     assignment costs a few hundred nanoseconds and allocates nothing.
//   - Remote asks the sidecar over its fast path (length-prefixed protobuf
//     frames, pipelined on a Unix socket; package fastpath).
//
// Exposures and outcome events go to the sidecar in background batches
// (EventLogger) and never block an assignment.
package splitline

// Version is the SDK version, reported as the exposure's client "go/<Version>".
const Version = "0.1.0"

// DefaultClientName identifies this SDK in exposures.
const DefaultClientName = "go/" + Version
