// Command splitline-loadgen drives the sidecar's doors (or an echo server on
// the same kind of door) with Assign requests and prints latency and
// throughput as JSON, for bench/sidecar_assign_bench.py.
//
// Why Go: a Python client on a small machine costs more per request than the
// server being measured, so its latencies mostly measure itself.
//
//	splitline-loadgen -door fast -socket /tmp/fast.sock -rate 10000 -duration 3s
//	splitline-loadgen -door grpc -socket /tmp/grpc.sock -rate 0 -duration 3s   # rate 0: maximum throughput
//
// Fixed rate is open loop: requests leave on schedule whether or not earlier
// ones were answered, so a slow server shows up as latency, not as a lower
// send rate. Maximum throughput keeps -window requests in flight.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

type result struct {
	Door        string  `json:"door"`
	Rate        int     `json:"rate"`
	Sent        int64   `json:"sent"`
	Answered    int64   `json:"answered"`
	AchievedRPS float64 `json:"achieved_rps"`
	P50us       float64 `json:"p50_us,omitempty"`
	P99us       float64 `json:"p99_us,omitempty"`
}

// requests are serialized AssignRequests (all experiments of a unit), the
// same shape bench/sidecar_assign_bench.py sends.
func requests(n int) [][]byte {
	rng := rand.New(rand.NewSource(7))
	countries := []string{"US", "CA", "DE"}
	versions := []string{"1.9", "2.0.1", "3"}
	out := make([][]byte, n)
	for i := range out {
		data, err := proto.Marshal(&pb.AssignRequest{
			Units:      map[string]string{"user_id": fmt.Sprintf("user-%d", rng.Intn(1_000_000))},
			Attributes: map[string]string{"country": countries[rng.Intn(3)], "app_version": versions[rng.Intn(3)]},
		})
		if err != nil {
			panic(err)
		}
		out[i] = data
	}
	return out
}

func frame(rid uint64, body []byte) []byte {
	msg := protowire.AppendTag(nil, 1, protowire.VarintType)
	msg = protowire.AppendVarint(msg, rid)
	msg = protowire.AppendTag(msg, 2, protowire.BytesType)
	msg = protowire.AppendBytes(msg, body)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

// readFrame reads one length-prefixed frame into buf (grown when needed).
func readFrame(br *bufio.Reader, buf []byte) ([]byte, error) {
	var header [4]byte
	if _, err := io.ReadFull(br, header[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(header[:]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(br, buf)
	return buf, err
}

// fastRun drives one pipelined framed connection.
func fastRun(socket string, rate int, duration time.Duration, window int, bodies [][]byte) (result, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	var (
		mu        sync.Mutex
		sentAt    = map[uint64]time.Time{}
		latencies []time.Duration
		answered  atomic.Int64
		inflight  = make(chan struct{}, window)
	)
	readDone := make(chan error, 1)
	go func() {
		br := bufio.NewReaderSize(conn, 1<<16)
		buf := make([]byte, 0, 4096)
		for {
			var err error
			if buf, err = readFrame(br, buf); err != nil {
				readDone <- err
				return
			}
			now := time.Now()
			rid, _ := protowire.ConsumeVarint(buf[1:]) // field 1 (request_id) comes first
			mu.Lock()
			if t0, ok := sentAt[rid]; ok {
				latencies = append(latencies, now.Sub(t0))
				delete(sentAt, rid)
			}
			mu.Unlock()
			answered.Add(1)
			if rate == 0 {
				<-inflight
			}
		}
	}()
	bw := bufio.NewWriterSize(conn, 1<<16)
	start := time.Now()
	var sent int64
	rid := uint64(0)
	for {
		elapsed := time.Since(start)
		if elapsed >= duration {
			break
		}
		due := int64(64)
		if rate > 0 {
			due = int64(elapsed.Seconds()*float64(rate)) + 1 - sent
		}
		now := time.Now()
		for i := int64(0); i < due; i++ {
			if rate == 0 {
				select {
				case inflight <- struct{}{}:
				default: // window full: send what is buffered, then wait for an answer
					if err := bw.Flush(); err != nil {
						return result{}, err
					}
					inflight <- struct{}{}
				}
			}
			rid++
			mu.Lock()
			if rate > 0 {
				sentAt[rid] = now
			}
			mu.Unlock()
			if _, err := bw.Write(frame(rid, bodies[int(rid)%len(bodies)])); err != nil {
				return result{}, err
			}
			sent++
		}
		if err := bw.Flush(); err != nil {
			return result{}, err
		}
		if rate > 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	elapsed := time.Since(start)
	deadline := time.Now().Add(10 * time.Second)
	for answered.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	_ = conn.Close()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	return summarize("fast", rate, sent, answered.Load(), elapsed, latencies), nil
}

// grpcRun drives the gRPC door: one goroutine per request at a fixed rate, or
// -window closed-loop workers for the maximum.
func grpcRun(socket string, rate int, duration time.Duration, window int, bodies [][]byte) (result, error) {
	conn, err := grpc.NewClient("unix:"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	reqs := make([]*pb.AssignRequest, len(bodies))
	for i, b := range bodies {
		reqs[i] = &pb.AssignRequest{}
		if err := proto.Unmarshal(b, reqs[i]); err != nil {
			return result{}, err
		}
	}
	call := func(i int) error {
		return conn.Invoke(context.Background(), "/splitline.v1.AssignmentService/Assign", reqs[i%len(reqs)],
			&pb.AssignResponse{})
	}
	if err := call(0); err != nil { // connect
		return result{}, err
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		answered  atomic.Int64
		sent      atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	if rate == 0 {
		stop := start.Add(duration)
		for w := 0; w < window; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; time.Now().Before(stop); i += window {
					sent.Add(1)
					if call(i) == nil {
						answered.Add(1)
					}
				}
			}(w)
		}
	} else {
		for {
			elapsed := time.Since(start)
			if elapsed >= duration {
				break
			}
			due := int64(elapsed.Seconds()*float64(rate)) + 1 - sent.Load()
			for i := int64(0); i < due; i++ {
				n := int(sent.Add(1))
				wg.Add(1)
				go func() {
					defer wg.Done()
					t0 := time.Now()
					if call(n) == nil {
						d := time.Since(t0)
						answered.Add(1)
						mu.Lock()
						latencies = append(latencies, d)
						mu.Unlock()
					}
				}()
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	if rate == 0 {
		wg.Wait() // the workers stop at the deadline: count until the last answer
	}
	elapsed := time.Since(start)
	wg.Wait()
	return summarize("grpc", rate, sent.Load(), answered.Load(), elapsed, latencies), nil
}

// serveEcho is a framed echo in Go: each frame's request id answered with an
// empty AssignResponse. It is the floor of the fast path's latency on a machine
// (the socket round trip with no Python at all).
func serveEcho(path string) error {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReaderSize(c, 1<<16)
			bw := bufio.NewWriterSize(c, 1<<16)
			buf := make([]byte, 0, 4096)
			for {
				var err error
				if buf, err = readFrame(br, buf); err != nil {
					return
				}
				rid, _ := protowire.ConsumeVarint(buf[1:])
				if _, err := bw.Write(frame(rid, nil)); err != nil {
					return
				}
				if br.Buffered() == 0 { // answer a pipelined burst in one write
					if err := bw.Flush(); err != nil {
						return
					}
				}
			}
		}(conn)
	}
}

func summarize(door string, rate int, sent, answered int64, elapsed time.Duration, lat []time.Duration) result {
	r := result{Door: door, Rate: rate, Sent: sent, Answered: answered,
		AchievedRPS: float64(answered) / elapsed.Seconds()}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) float64 {
			return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1000
		}
		r.P50us, r.P99us = q(0.50), q(0.99)
	}
	return r
}

func main() {
	door := flag.String("door", "fast", "fast or grpc")
	socket := flag.String("socket", "", "Unix socket path")
	rate := flag.Int("rate", 1000, "requests per second, open loop; 0 = maximum throughput")
	duration := flag.Duration("duration", 3*time.Second, "how long to send")
	window := flag.Int("window", 256, "requests in flight for the maximum (fast) / concurrent callers (grpc)")
	echo := flag.String("serve-echo", "", "instead: serve a framed echo on this Unix socket until killed")
	flag.Parse()
	if *echo != "" {
		if err := serveEcho(*echo); err != nil {
			fmt.Fprintln(os.Stderr, "splitline-loadgen:", err)
			os.Exit(1)
		}
		return
	}
	bodies := requests(20_000)
	run := fastRun
	if *door == "grpc" {
		run = grpcRun
	}
	r, err := run(*socket, *rate, *duration, *window, bodies)
	if err != nil {
		fmt.Fprintln(os.Stderr, "splitline-loadgen:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}
