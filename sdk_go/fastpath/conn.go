// Package fastpath is a client for the sidecar's fast path: FastPathRequest
// and FastPathResponse messages (splitline/v1/assignment.proto) in frames of
// a big-endian uint32 length and that many bytes, pipelined on one Unix
// socket. Responses carry their request's id and may arrive in any order; a
// response with request id 0 is a connection-level error after which the
// sidecar closes the connection.
package fastpath

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// MaxFrame is the largest frame either side accepts (4 MiB).
const MaxFrame = 4 << 20

// ErrClosed is returned for calls on (or pending on) a closed connection.
var ErrClosed = errors.New("fastpath: connection closed")

// Error is a FastPathError answer: a google.rpc.Code, a message and the
// offending request field, when one is to blame.
type Error struct {
	Code    int32
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("fastpath: code %d: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("fastpath: code %d: %s", e.Code, e.Message)
}

// Conn is one pipelined fast-path connection, safe for concurrent use.
type Conn struct {
	nc      net.Conn
	writeMu sync.Mutex
	bw      *bufio.Writer
	nextID  atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan *pb.FastPathResponse
	err     error // set once the connection is dead
	done    chan struct{}
}

// Dial connects to the fast-path Unix socket at path.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return NewConn(nc), nil
}

// NewConn wraps an established connection (a Unix socket, or a pipe in tests).
func NewConn(nc net.Conn) *Conn {
	c := &Conn{
		nc:      nc,
		bw:      bufio.NewWriterSize(nc, 64<<10),
		pending: map[uint64]chan *pb.FastPathResponse{},
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

// Done is closed when the connection is dead; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is the reason the connection died, nil while it lives.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	_ = c.nc.Close()
	for _, ch := range pending {
		close(ch)
	}
}

func (c *Conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var header [4]byte
	buf := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(br, header[:]); err != nil {
			c.fail(fmt.Errorf("fastpath: read: %w", err))
			return
		}
		n := binary.BigEndian.Uint32(header[:])
		if n > MaxFrame {
			c.fail(fmt.Errorf("fastpath: response frame of %d bytes exceeds %d", n, MaxFrame))
			return
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			c.fail(fmt.Errorf("fastpath: read: %w", err))
			return
		}
		resp := &pb.FastPathResponse{}
		if err := proto.Unmarshal(buf, resp); err != nil {
			c.fail(fmt.Errorf("fastpath: bad response frame: %w", err))
			return
		}
		if resp.GetRequestId() == 0 {
			// A connection-level error: the sidecar closes the connection.
			var err error = ErrClosed
			if e := resp.GetError(); e != nil {
				err = &Error{Code: e.GetCode(), Message: e.GetMessage(), Field: e.GetField()}
			}
			c.fail(err)
			return
		}
		c.mu.Lock()
		ch := c.pending[resp.GetRequestId()]
		delete(c.pending, resp.GetRequestId())
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
}

// Do sends req (its request_id is set here) and waits for the response. A
// FastPathError answer is returned as *Error. Cancelling ctx abandons the
// call; the connection stays usable.
func (c *Conn) Do(ctx context.Context, req *pb.FastPathRequest) (*pb.FastPathResponse, error) {
	id := c.nextID.Add(1)
	req.RequestId = id
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFrame {
		return nil, fmt.Errorf("fastpath: request of %d bytes exceeds %d", len(data), MaxFrame)
	}
	ch := make(chan *pb.FastPathResponse, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[id] = ch
	c.mu.Unlock()

	if err := c.write(data); err != nil {
		c.fail(fmt.Errorf("fastpath: write: %w", err))
		return nil, c.Err()
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		if e := resp.GetError(); e != nil {
			return nil, &Error{Code: e.GetCode(), Message: e.GetMessage(), Field: e.GetField()}
		}
		return resp, nil
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (c *Conn) write(data []byte) error {
	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(data)))
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.bw.Write(header[:]); err != nil {
		return err
	}
	if _, err := c.bw.Write(data); err != nil {
		return err
	}
	return c.bw.Flush()
}

// Assign sends an AssignRequest.
func (c *Conn) Assign(ctx context.Context, req *pb.AssignRequest) (*pb.AssignResponse, error) {
	resp, err := c.Do(ctx, &pb.FastPathRequest{Body: &pb.FastPathRequest_Assign{Assign: req}})
	if err != nil {
		return nil, err
	}
	if r := resp.GetAssign(); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("fastpath: unexpected response body %T to Assign", resp.GetBody())
}

// LogExposures sends exposures; the sidecar answers once they are spooled.
func (c *Conn) LogExposures(ctx context.Context, exposures []*pb.Exposure) (uint32, error) {
	resp, err := c.Do(ctx, &pb.FastPathRequest{Body: &pb.FastPathRequest_LogExposures{
		LogExposures: &pb.LogExposuresRequest{Exposures: exposures}}})
	if err != nil {
		return 0, err
	}
	if r := resp.GetLogExposures(); r != nil {
		return r.GetAccepted(), nil
	}
	return 0, fmt.Errorf("fastpath: unexpected response body %T to LogExposures", resp.GetBody())
}

// Track sends outcome events; the sidecar answers once they are spooled.
func (c *Conn) Track(ctx context.Context, outcomes []*pb.Outcome) (uint32, error) {
	resp, err := c.Do(ctx, &pb.FastPathRequest{Body: &pb.FastPathRequest_Track{Track: &pb.TrackRequest{Outcomes: outcomes}}})
	if err != nil {
		return 0, err
	}
	if r := resp.GetTrack(); r != nil {
		return r.GetAccepted(), nil
	}
	return 0, fmt.Errorf("fastpath: unexpected response body %T to Track", resp.GetBody())
}
