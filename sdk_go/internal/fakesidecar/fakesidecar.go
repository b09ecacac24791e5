// Package fakesidecar serves the sidecar's fast path from a core.Snapshot,
// for the SDK's tests: it answers Assign the way the sidecar does and records
// the events it receives. It is not a sidecar (no spool, no Kafka).
package fakesidecar

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/splitline/splitline/sdk_go/core"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// Server is a fake fast-path server on a Unix socket in a test's temp dir.
type Server struct {
	Path string
	snap *core.Snapshot
	ln   net.Listener

	mu        sync.Mutex
	Exposures []*pb.Exposure
	Outcomes  []*pb.Outcome
	Requests  int
	// FailEvents makes the next N LogExposures/Track calls answer UNAVAILABLE.
	FailEvents int
	conns      []net.Conn
}

// Start serves snap until the test ends.
func Start(t testing.TB, snap *core.Snapshot) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fast.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Path: path, snap: snap, ln: ln}
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and drops its connections.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.DropConnections()
}

// DropConnections closes every open connection (clients must redial).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

// Counts returns the number of exposures and outcomes received.
func (s *Server) Counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Exposures), len(s.Outcomes)
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var wmu sync.Mutex
	for {
		var header [4]byte
		if _, err := io.ReadFull(br, header[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(header[:])
		if n > 4<<20 {
			writeFrame(c, &wmu, &pb.FastPathResponse{Body: &pb.FastPathResponse_Error{
				Error: &pb.FastPathError{Code: 3, Message: "frame too large"}}})
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			return
		}
		req := &pb.FastPathRequest{}
		if err := proto.Unmarshal(buf, req); err != nil {
			writeFrame(c, &wmu, &pb.FastPathResponse{Body: &pb.FastPathResponse_Error{
				Error: &pb.FastPathError{Code: 3, Message: "cannot parse frame"}}})
			return
		}
		// Answer concurrently so responses may come back out of order.
		go writeFrame(c, &wmu, s.handle(req))
	}
}

func (s *Server) handle(req *pb.FastPathRequest) *pb.FastPathResponse {
	s.mu.Lock()
	s.Requests++
	s.mu.Unlock()
	resp := &pb.FastPathResponse{RequestId: req.GetRequestId()}
	unavailable := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.FailEvents > 0 {
			s.FailEvents--
			resp.Body = &pb.FastPathResponse_Error{Error: &pb.FastPathError{Code: 14, Message: "spool unavailable"}}
			return true
		}
		return false
	}
	switch body := req.GetBody().(type) {
	case *pb.FastPathRequest_Assign:
		r := body.Assign
		keys := r.GetExperimentKeys()
		if len(keys) == 0 {
			keys = s.snap.ExperimentKeys()
		}
		out := &pb.AssignResponse{ConfigRevision: s.snap.Revision()}
		for _, k := range keys {
			a := s.snap.Assign(k, r.GetUnits(), r.GetAttributes())
			ut, _ := s.snap.UnitType(k)
			out.Assignments = append(out.Assignments, &pb.Assignment{
				ExperimentKey: k, VariantKey: a.Variant, Reason: pb.Reason(a.Reason), Params: a.Params,
				UnitType: ut, UnitId: r.GetUnits()[ut],
			})
			if r.GetLogExposures() && a.InExperiment() {
				s.mu.Lock()
				s.Exposures = append(s.Exposures, &pb.Exposure{ExperimentKey: k, VariantKey: a.Variant, UnitType: ut,
					UnitId: r.GetUnits()[ut], Forced: a.Forced(), Client: r.GetClient()})
				s.mu.Unlock()
			}
		}
		resp.Body = &pb.FastPathResponse_Assign{Assign: out}
	case *pb.FastPathRequest_LogExposures:
		if unavailable() {
			return resp
		}
		s.mu.Lock()
		s.Exposures = append(s.Exposures, body.LogExposures.GetExposures()...)
		s.mu.Unlock()
		resp.Body = &pb.FastPathResponse_LogExposures{LogExposures: &pb.LogExposuresResponse{
			Accepted: uint32(len(body.LogExposures.GetExposures()))}}
	case *pb.FastPathRequest_Track:
		if unavailable() {
			return resp
		}
		s.mu.Lock()
		s.Outcomes = append(s.Outcomes, body.Track.GetOutcomes()...)
		s.mu.Unlock()
		resp.Body = &pb.FastPathResponse_Track{Track: &pb.TrackResponse{Accepted: uint32(len(body.Track.GetOutcomes()))}}
	default:
		resp.Body = &pb.FastPathResponse_Error{Error: &pb.FastPathError{Code: 3, Message: "empty request body", Field: "body"}}
	}
	return resp
}

func writeFrame(c net.Conn, mu *sync.Mutex, resp *pb.FastPathResponse) {
	data, _ := proto.Marshal(resp)
	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(data)))
	mu.Lock()
	defer mu.Unlock()
	_, _ = c.Write(append(header[:], data...))
}
