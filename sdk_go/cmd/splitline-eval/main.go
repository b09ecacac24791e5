// Command splitline-eval evaluates assignment cases read as JSON lines, for
// cross-language checks (tests/cross). The TypeScript SDK's
// `node sdk_js/dist/cli/eval.js` speaks the same protocol.
//
// stdin, first line:  {"snapshots": {"<name>": <ConfigSnapshot in proto3 JSON>, ...}}
// then one case per line:
//
//	{"id": "c1", "snapshot": "<name>", "units": {"user_id": "42"},
//	 "attributes": {"country": "US"}, "experiment": "checkout_v2"}
//
// stdout, one line per case, in input order:
//
//	{"id": "c1", "variant": "treatment" | null, "reason": "ASSIGNED"}
//
// Attribute values may be strings, booleans or numbers (encoded as the
// contract says). A case naming a snapshot that failed to load answers
// reason "INVALID_SNAPSHOT" with an "error"; a line that is not JSON answers
// reason "BAD_INPUT". The exit status is 0 unless stdin cannot be read.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/splitline/splitline/sdk_go/core"
)

type header struct {
	Snapshots map[string]json.RawMessage `json:"snapshots"`
}

type evalCase struct {
	ID         json.RawMessage `json:"id"`
	Snapshot   string          `json:"snapshot"`
	Units      map[string]any  `json:"units"`
	Attributes map[string]any  `json:"attributes"`
	Experiment string          `json:"experiment"`
}

type result struct {
	ID      json.RawMessage `json:"id"`
	Variant *string         `json:"variant"`
	Reason  string          `json:"reason"`
	Error   string          `json:"error,omitempty"`
}

// contractStrings encodes a JSON object of values as the contract's strings;
// unusable values (null, objects, arrays) are dropped.
func contractStrings(in map[string]any) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if s, ok := core.EncodeValue(v); ok {
			out[k] = s
		}
	}
	return out
}

func decodeCase(line []byte, c *evalCase) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber() // JSON integers stay integers, as in Python
	return dec.Decode(c)
}

func run(in io.Reader, out io.Writer) error {
	br := bufio.NewReaderSize(in, 1<<20)
	bw := bufio.NewWriterSize(out, 1<<20)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)

	first, err := br.ReadBytes('\n')
	if err != nil && err != io.EOF {
		return err
	}
	var h header
	if err := json.Unmarshal(first, &h); err != nil {
		return fmt.Errorf("first line must be {\"snapshots\": {...}}: %w", err)
	}
	snaps := map[string]*core.Snapshot{}
	loadErrs := map[string]string{}
	for name, doc := range h.Snapshots {
		s, err := core.LoadSnapshotJSON(doc)
		if err != nil {
			loadErrs[name] = err.Error()
			continue
		}
		snaps[name] = s
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var c evalCase
			res := result{}
			if jerr := decodeCase(line, &c); jerr != nil {
				res = result{ID: json.RawMessage("null"), Reason: "BAD_INPUT", Error: jerr.Error()}
			} else if s, ok := snaps[c.Snapshot]; ok {
				a := s.Assign(c.Experiment, contractStrings(c.Units), contractStrings(c.Attributes))
				res = result{ID: c.ID, Reason: a.Reason.String()}
				if a.Variant != "" {
					v := a.Variant
					res.Variant = &v
				}
			} else {
				msg := loadErrs[c.Snapshot]
				if msg == "" {
					msg = fmt.Sprintf("unknown snapshot %q", c.Snapshot)
				}
				res = result{ID: c.ID, Reason: "INVALID_SNAPSHOT", Error: msg}
			}
			if res.ID == nil {
				res.ID = json.RawMessage("null")
			}
			if err := enc.Encode(&res); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "splitline-eval:", err)
		os.Exit(1)
	}
}
