package main

import (
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/splitline/splitline/sdk_go/core"
	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// The sidecar's request limits (splitline.sidecar.requests.MAX_*). A request
// beyond one is handed back to the caller, which refuses it naming the field.
const (
	maxIDBytes        = 1024
	maxKeyBytes       = 256
	maxAttributeBytes = 8192
	maxExperimentKeys = 10_000
)

type templateKey struct {
	experiment string
	variant    string
	reason     core.Reason
}

type template struct {
	bytes    []byte // a serialized Assignment without unit_id
	unitType string
}

// index is one compiled snapshot plus the wire bytes of its decisions: every
// decision for a known experiment is one of a few (experiment, variant,
// reason) triples, so its Assignment bytes are built once and a request only
// appends the unit id.
type index struct {
	snap      *core.Snapshot
	revision  uint64
	templates sync.Map // templateKey -> template
}

func newIndex(snap *core.Snapshot) *index {
	return &index{snap: snap, revision: snap.Revision()}
}

var deterministic = proto.MarshalOptions{Deterministic: true}

func (ix *index) template(a core.Assignment) template {
	key := templateKey{a.ExperimentKey, a.Variant, a.Reason}
	if t, ok := ix.templates.Load(key); ok {
		return t.(template)
	}
	m := &pb.Assignment{ExperimentKey: a.ExperimentKey, Reason: pb.Reason(a.Reason)}
	unitType, known := ix.snap.UnitType(a.ExperimentKey)
	if known {
		m.UnitType = unitType
		m.VariantKey = a.Variant
		if a.Variant != "" && a.Params != nil && len(a.Params.GetFields()) > 0 {
			m.Params = a.Params
		}
	}
	data, err := deterministic.Marshal(m)
	if err != nil { // a Struct that cannot be encoded cannot come from a valid snapshot
		panic(err)
	}
	t := template{bytes: data, unitType: unitType}
	if known { // unknown keys come from clients: never cache them
		ix.templates.Store(key, t)
	}
	return t
}

func withinLimits(r *pb.AssignRequest) bool {
	for unitType, uid := range r.GetUnits() {
		if len(unitType) > maxKeyBytes || len(uid) > maxIDBytes {
			return false
		}
	}
	for name, value := range r.GetAttributes() {
		if len(name) > maxKeyBytes || len(value) > maxAttributeBytes {
			return false
		}
	}
	keys := r.GetExperimentKeys()
	if len(keys) > maxExperimentKeys {
		return false
	}
	for _, k := range keys {
		if len(k) > maxKeyBytes {
			return false
		}
	}
	return true
}

// answer appends the serialized AssignResponse for r to dst; false when the
// caller must answer (exposure logging, limits).
func (ix *index) answer(dst []byte, r *pb.AssignRequest) ([]byte, bool) {
	if r.GetLogExposures() || !withinLimits(r) {
		return dst, false
	}
	units, attrs := r.GetUnits(), r.GetAttributes()
	var results []core.Assignment
	if keys := r.GetExperimentKeys(); len(keys) > 0 {
		results = ix.snap.AssignMany(keys, units, attrs)
	} else {
		var room [16]core.Assignment
		results = ix.snap.AppendAll(room[:0], units, attrs)
	}
	for _, a := range results {
		t := ix.template(a)
		uid := ""
		if t.unitType != "" {
			uid = units[t.unitType]
		}
		n := len(t.bytes)
		if uid != "" {
			n += protowire.SizeTag(6) + protowire.SizeBytes(len(uid))
		}
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(n))
		dst = append(dst, t.bytes...)
		if uid != "" {
			dst = protowire.AppendTag(dst, 6, protowire.BytesType)
			dst = protowire.AppendString(dst, uid)
		}
	}
	if ix.revision != 0 {
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, ix.revision)
	}
	return dst, true
}
