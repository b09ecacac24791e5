package fastpath

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

func readRequest(t *testing.T, c net.Conn) *pb.FastPathRequest {
	t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(h[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	req := &pb.FastPathRequest{}
	if err := proto.Unmarshal(buf, req); err != nil {
		t.Fatal(err)
	}
	return req
}

func writeResponse(t *testing.T, c net.Conn, resp *pb.FastPathResponse) {
	t.Helper()
	data, _ := proto.Marshal(resp)
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(data)))
	if _, err := c.Write(append(h[:], data...)); err != nil {
		t.Fatal(err)
	}
}

// Responses are matched by request id, whatever their order.
func TestOutOfOrderResponses(t *testing.T) {
	client, server := net.Pipe()
	conn := NewConn(client)
	defer conn.Close()
	type result struct {
		rev uint64
		err error
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			resp, err := conn.Assign(context.Background(), &pb.AssignRequest{})
			if err != nil {
				results <- result{0, err}
				return
			}
			results <- result{resp.GetConfigRevision(), nil}
		}()
	}
	a, b := readRequest(t, server), readRequest(t, server)
	// Answer the second first; each answer carries its request id as the revision.
	for _, req := range []*pb.FastPathRequest{b, a} {
		writeResponse(t, server, &pb.FastPathResponse{RequestId: req.GetRequestId(), Body: &pb.FastPathResponse_Assign{
			Assign: &pb.AssignResponse{ConfigRevision: req.GetRequestId()}}})
	}
	seen := map[uint64]bool{}
	for i := 0; i < 2; i++ {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		seen[r.rev] = true
	}
	if !seen[a.GetRequestId()] || !seen[b.GetRequestId()] || a.GetRequestId() == b.GetRequestId() {
		t.Fatalf("responses mismatched: %v", seen)
	}
}

// A response with request id 0 is a connection error: every pending call fails.
func TestConnectionLevelError(t *testing.T) {
	client, server := net.Pipe()
	conn := NewConn(client)
	errs := make(chan error, 1)
	go func() {
		_, err := conn.Track(context.Background(), []*pb.Outcome{{Name: "x"}})
		errs <- err
	}()
	readRequest(t, server)
	writeResponse(t, server, &pb.FastPathResponse{Body: &pb.FastPathResponse_Error{
		Error: &pb.FastPathError{Code: 3, Message: "cannot parse frame"}}})
	select {
	case err := <-errs:
		var fe *Error
		if !errors.As(err, &fe) || fe.Code != 3 {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not failed")
	}
	if _, err := conn.Assign(context.Background(), &pb.AssignRequest{}); err == nil {
		t.Fatal("call on a dead connection succeeded")
	}
}

func TestContextCancelKeepsConnection(t *testing.T) {
	client, server := net.Pipe()
	conn := NewConn(client)
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := conn.Assign(ctx, &pb.AssignRequest{})
		done <- err
	}()
	first := readRequest(t, server)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	// A late answer to the abandoned call is ignored; the next call works.
	writeResponse(t, server, &pb.FastPathResponse{RequestId: first.GetRequestId(), Body: &pb.FastPathResponse_Assign{Assign: &pb.AssignResponse{}}})
	go func() {
		req := readRequest(t, server)
		writeResponse(t, server, &pb.FastPathResponse{RequestId: req.GetRequestId(), Body: &pb.FastPathResponse_Assign{
			Assign: &pb.AssignResponse{ConfigRevision: 7}}})
	}()
	resp, err := conn.Assign(context.Background(), &pb.AssignRequest{})
	if err != nil || resp.GetConfigRevision() != 7 {
		t.Fatalf("got %v, %v", resp, err)
	}
}
