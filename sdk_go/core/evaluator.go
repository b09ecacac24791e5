package core

import (
	"sort"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// Assignment is one experiment's decision for a unit: the variant ("" when
// none applies), why, and the variant's params (shared and read-only; nil
// when the variant has none).
type Assignment struct {
	ExperimentKey string
	Variant       string
	Reason        Reason
	Params        *structpb.Struct
}

// HasVariant reports whether a variant applies (ASSIGNED, OVERRIDE or SHIPPED).
func (a Assignment) HasVariant() bool { return a.Variant != "" }

// Forced reports whether an override chose the variant (logged as forced,
// excluded from analysis).
func (a Assignment) Forced() bool { return a.Reason == ReasonOverride }

// InExperiment reports whether the unit counts as exposed to a variant of a
// running experiment (ASSIGNED or OVERRIDE): only these log exposures.
func (a Assignment) InExperiment() bool {
	return a.Reason == ReasonAssigned || a.Reason == ReasonOverride
}

type compiledLayer struct {
	id     string
	suffix string
	// table[bucket] is 1 + the index in exps of the experiment owning the
	// bucket, 0 when none does.
	table     []uint16
	exps      []*compiledExperiment
	unitTypes []string // unit types of RUNNING experiments with ranges, sorted
}

type holdoutRef struct {
	suffix  string
	percent uint32
}

type compiledExperiment struct {
	source   *pb.Experiment
	key      string
	suffix   string
	unitType string
	status   pb.ExperimentStatus
	layer    *compiledLayer
	slot     uint16
	holdouts []holdoutRef
	rules    []*Rule

	overrides     map[string]Assignment
	variantStarts []uint32
	variantEnds   []uint32
	variantResult []Assignment

	rNoUnit, rNotRunning, rNotEligible, rHoldout, rNotInTraffic Assignment
	rShipped                                                    *Assignment
}

type overrideKey struct{ unitType, unitID string }

// Snapshot is a validated, indexed, immutable snapshot: share it freely
// between goroutines and swap it atomically to change configuration.
type Snapshot struct {
	source         *pb.ConfigSnapshot
	experiments    map[string]*compiledExperiment
	order          []*compiledExperiment
	layers         []*compiledLayer // layers with running experiments, snapshot order
	shipped        []*compiledExperiment
	overrideTypes  []string // unit types that have overrides, sorted
	byUnitOverride map[overrideKey][]*compiledExperiment
}

// Compile validates and indexes a snapshot; a *SnapshotError lists every problem.
func Compile(snapshot *pb.ConfigSnapshot) (*Snapshot, error) {
	if errs := Validate(snapshot); len(errs) > 0 {
		return nil, &SnapshotError{Errors: errs}
	}
	s := &Snapshot{
		source:         snapshot,
		experiments:    make(map[string]*compiledExperiment, len(snapshot.GetExperiments())),
		byUnitOverride: map[overrideKey][]*compiledExperiment{},
	}
	layers := make(map[string]*compiledLayer, len(snapshot.GetLayers()))
	layerOrder := make([]*compiledLayer, 0, len(snapshot.GetLayers()))
	for _, l := range snapshot.GetLayers() {
		salt := l.GetSalt()
		if salt == "" {
			salt = l.GetId()
		}
		cl := &compiledLayer{id: l.GetId(), suffix: SaltSeparator + salt}
		layers[l.GetId()] = cl
		layerOrder = append(layerOrder, cl)
	}
	holdoutsOf := map[string][]holdoutRef{}
	for _, h := range snapshot.GetHoldouts() {
		salt := h.GetSalt()
		if salt == "" {
			salt = h.GetId()
		}
		ref := holdoutRef{SaltSeparator + salt, h.GetPercentBp()}
		if len(h.GetLayerIds()) == 0 {
			for _, l := range layerOrder {
				holdoutsOf[l.id] = append(holdoutsOf[l.id], ref)
			}
		} else {
			for _, lid := range h.GetLayerIds() {
				holdoutsOf[lid] = append(holdoutsOf[lid], ref)
			}
		}
	}
	runningTypes := map[*compiledLayer]map[string]bool{}
	overrideTypes := map[string]bool{}
	for _, exp := range snapshot.GetExperiments() {
		layer := layers[exp.GetLayerId()]
		ce, err := compileExperiment(exp, layer, holdoutsOf[exp.GetLayerId()])
		if err != nil {
			return nil, err
		}
		if old, dup := s.experiments[ce.key]; dup {
			// Validation refuses duplicates; keep the last one as Python's dict would.
			_ = old
		}
		s.experiments[ce.key] = ce
		s.order = append(s.order, ce)
		if len(exp.GetRanges()) > 0 {
			if layer.table == nil {
				layer.table = make([]uint16, BucketCount)
			}
			layer.exps = append(layer.exps, ce)
			ce.slot = uint16(len(layer.exps))
			for _, r := range exp.GetRanges() {
				for b := r.GetStart(); b < r.GetEnd(); b++ {
					layer.table[b] = ce.slot
				}
			}
		}
		for uid := range exp.GetOverrides() {
			k := overrideKey{exp.GetUnitType(), uid}
			s.byUnitOverride[k] = append(s.byUnitOverride[k], ce)
			overrideTypes[exp.GetUnitType()] = true
		}
		switch exp.GetStatus() {
		case pb.ExperimentStatus_EXPERIMENT_STATUS_SHIPPED:
			s.shipped = append(s.shipped, ce)
		case pb.ExperimentStatus_EXPERIMENT_STATUS_RUNNING:
			if len(exp.GetRanges()) > 0 {
				if runningTypes[layer] == nil {
					runningTypes[layer] = map[string]bool{}
				}
				runningTypes[layer][exp.GetUnitType()] = true
			}
		}
	}
	for _, l := range layerOrder {
		for ut := range runningTypes[l] {
			l.unitTypes = append(l.unitTypes, ut)
		}
		sort.Strings(l.unitTypes)
		if len(l.unitTypes) > 0 {
			s.layers = append(s.layers, l)
		}
	}
	for ut := range overrideTypes {
		s.overrideTypes = append(s.overrideTypes, ut)
	}
	sort.Strings(s.overrideTypes)
	return s, nil
}

func compileExperiment(exp *pb.Experiment, layer *compiledLayer, holdouts []holdoutRef) (*compiledExperiment, error) {
	key := exp.GetKey()
	salt := exp.GetSalt()
	if salt == "" {
		salt = key
	}
	ce := &compiledExperiment{
		source:   exp,
		key:      key,
		suffix:   SaltSeparator + salt,
		unitType: exp.GetUnitType(),
		status:   exp.GetStatus(),
		layer:    layer,
		holdouts: holdouts,
	}
	for i, r := range exp.GetRules() {
		rule, err := CompileRule(r.GetAttribute(), r.GetOperator(), r.GetValues(),
			"experiments["+key+"].rules["+itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		ce.rules = append(ce.rules, rule)
	}
	variants := make(map[string]Assignment, len(exp.GetVariants()))
	type owned struct {
		start, end uint32
		result     Assignment
	}
	var ranges []owned
	for _, v := range exp.GetVariants() {
		a := Assignment{ExperimentKey: key, Variant: v.GetKey(), Reason: ReasonAssigned, Params: v.GetParams()}
		variants[v.GetKey()] = a
		for _, r := range v.GetRanges() {
			ranges = append(ranges, owned{r.GetStart(), r.GetEnd(), a})
		}
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].start < ranges[j].start })
	for _, r := range ranges {
		ce.variantStarts = append(ce.variantStarts, r.start)
		ce.variantEnds = append(ce.variantEnds, r.end)
		ce.variantResult = append(ce.variantResult, r.result)
	}
	if len(exp.GetOverrides()) > 0 {
		ce.overrides = make(map[string]Assignment, len(exp.GetOverrides()))
		for uid, vk := range exp.GetOverrides() {
			v := variants[vk]
			ce.overrides[uid] = Assignment{ExperimentKey: key, Variant: vk, Reason: ReasonOverride, Params: v.Params}
		}
	}
	ce.rNoUnit = Assignment{ExperimentKey: key, Reason: ReasonNoUnit}
	ce.rNotRunning = Assignment{ExperimentKey: key, Reason: ReasonNotRunning}
	ce.rNotEligible = Assignment{ExperimentKey: key, Reason: ReasonNotEligible}
	ce.rHoldout = Assignment{ExperimentKey: key, Reason: ReasonHoldout}
	ce.rNotInTraffic = Assignment{ExperimentKey: key, Reason: ReasonNotInTraffic}
	if v, ok := variants[exp.GetShippedVariant()]; ok && exp.GetShippedVariant() != "" {
		ce.rShipped = &Assignment{ExperimentKey: key, Variant: v.Variant, Reason: ReasonShipped, Params: v.Params}
	}
	return ce, nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Revision is the snapshot's config revision.
func (s *Snapshot) Revision() uint64 { return s.source.GetRevision() }

// Source is the snapshot the index was built from (do not modify it).
func (s *Snapshot) Source() *pb.ConfigSnapshot { return s.source }

// ExperimentKeys lists the experiments in snapshot order.
func (s *Snapshot) ExperimentKeys() []string {
	keys := make([]string, len(s.order))
	for i, e := range s.order {
		keys[i] = e.key
	}
	return keys
}

// UnitType is the unit type an experiment hashes; ok is false when unknown.
func (s *Snapshot) UnitType(experimentKey string) (string, bool) {
	e, ok := s.experiments[experimentKey]
	if !ok {
		return "", false
	}
	return e.unitType, true
}

func (e *compiledExperiment) eligible(attrs Attributes) bool {
	for _, r := range e.rules {
		if !r.Eval(attrs) {
			return false
		}
	}
	return true
}

func (e *compiledExperiment) heldOut(uid string) bool {
	for _, h := range e.holdouts {
		if bucketSuffix(uid, h.suffix) < h.percent {
			return true
		}
	}
	return false
}

func (e *compiledExperiment) variant(uid string) Assignment {
	v := bucketSuffix(uid, e.suffix)
	// The last range starting at or before v.
	lo, hi := 0, len(e.variantStarts)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if e.variantStarts[mid] <= v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if i := lo - 1; i >= 0 && v < e.variantEnds[i] {
		return e.variantResult[i]
	}
	return e.rNotInTraffic
}

func (e *compiledExperiment) inTraffic(uid string) bool {
	t := e.layer.table
	return t != nil && e.slot != 0 && t[bucketSuffix(uid, e.layer.suffix)] == e.slot
}

// Assign decides one experiment for a unit (see the package doc for the
// order). units maps unit type to id; attrs are the contract's strings
// (EncodeAttributes turns typed values into them). It never allocates.
func (s *Snapshot) Assign(experimentKey string, units map[string]string, attrs Attributes) Assignment {
	e, ok := s.experiments[experimentKey]
	if !ok {
		return Assignment{ExperimentKey: experimentKey, Reason: ReasonUnknownExperiment}
	}
	return s.decide(e, units, attrs)
}

func (s *Snapshot) decide(e *compiledExperiment, units map[string]string, attrs Attributes) Assignment {
	uid := units[e.unitType]
	if uid == "" {
		return e.rNoUnit
	}
	if e.overrides != nil {
		if forced, ok := e.overrides[uid]; ok {
			return forced
		}
	}
	if e.status != pb.ExperimentStatus_EXPERIMENT_STATUS_RUNNING {
		if e.status == pb.ExperimentStatus_EXPERIMENT_STATUS_SHIPPED && e.rShipped != nil {
			if e.eligible(attrs) {
				return *e.rShipped
			}
			return e.rNotEligible
		}
		return e.rNotRunning
	}
	if !e.eligible(attrs) {
		return e.rNotEligible
	}
	if len(e.holdouts) > 0 && e.heldOut(uid) {
		return e.rHoldout
	}
	if !e.inTraffic(uid) {
		return e.rNotInTraffic
	}
	return e.variant(uid)
}

// AssignMany is Assign for each key, in order.
func (s *Snapshot) AssignMany(keys []string, units map[string]string, attrs Attributes) []Assignment {
	out := make([]Assignment, len(keys))
	for i, k := range keys {
		out[i] = s.Assign(k, units, attrs)
	}
	return out
}

// AssignAll lists every experiment that gives the unit a variant (ASSIGNED,
// OVERRIDE or SHIPPED); any experiment not listed answers with no variant
// (Assign says why). The list is a set (its order is not part of the
// contract); here: overrides, shipped experiments, then layers in snapshot
// order. It costs O(layers), not O(experiments).
func (s *Snapshot) AssignAll(units map[string]string, attrs Attributes) []Assignment {
	return s.AppendAll(nil, units, attrs)
}

// AppendAll is AssignAll appending to dst (no allocation when dst has room).
func (s *Snapshot) AppendAll(dst []Assignment, units map[string]string, attrs Attributes) []Assignment {
	start := len(dst)
	forced := func(key string) bool {
		for _, a := range dst[start:] {
			if a.Reason == ReasonOverride && a.ExperimentKey == key {
				return true
			}
		}
		return false
	}
	for _, ut := range s.overrideTypes {
		uid, ok := units[ut]
		if !ok {
			continue
		}
		for _, e := range s.byUnitOverride[overrideKey{ut, uid}] {
			dst = append(dst, e.overrides[uid])
		}
	}
	nForced := len(dst) - start
	for _, e := range s.shipped {
		if nForced > 0 && forced(e.key) {
			continue
		}
		if r := s.decide(e, units, attrs); r.Variant != "" {
			dst = append(dst, r)
		}
	}
	for _, l := range s.layers {
		for _, ut := range l.unitTypes {
			uid := units[ut]
			if uid == "" {
				continue
			}
			slot := l.table[bucketSuffix(uid, l.suffix)]
			if slot == 0 {
				continue
			}
			e := l.exps[slot-1]
			if e.status != pb.ExperimentStatus_EXPERIMENT_STATUS_RUNNING || e.unitType != ut {
				continue
			}
			if nForced > 0 && forced(e.key) {
				continue
			}
			if !e.eligible(attrs) || (len(e.holdouts) > 0 && e.heldOut(uid)) {
				continue
			}
			if r := e.variant(uid); r.Variant != "" {
				dst = append(dst, r)
			}
		}
	}
	return dst
}
