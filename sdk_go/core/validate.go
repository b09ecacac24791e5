package core

import (
	"fmt"
	"sort"
	"strings"

	pb "github.com/splitline/splitline/sdk_go/gen/splitline/v1"
)

// FieldError is one validation problem: the field path and what is wrong.
type FieldError struct {
	Field   string
	Message string
}

func (e FieldError) String() string { return e.Field + ": " + e.Message }

// SnapshotError is a snapshot that cannot be served; Errors lists every problem.
type SnapshotError struct{ Errors []FieldError }

func (e *SnapshotError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.String()
	}
	return strings.Join(parts, "; ")
}

// validKey reports whether s matches [A-Za-z0-9][A-Za-z0-9_.\-]{0,127} in full.
func validKey(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

type span struct {
	start, end uint32
	key        string
}

func sortSpans(s []span) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].start != s[j].start {
			return s[i].start < s[j].start
		}
		if s[i].end != s[j].end {
			return s[i].end < s[j].end
		}
		return s[i].key < s[j].key
	})
}

type validator struct{ errors []FieldError }

func (v *validator) add(field, format string, args ...any) {
	v.errors = append(v.errors, FieldError{field, fmt.Sprintf(format, args...)})
}

func (v *validator) checkKey(value, field string) {
	if !validKey(value) {
		v.add(field, "%q must match [A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}", value)
	}
}

// checkRanges validates half-open ranges and returns the valid ones sorted.
func (v *validator) checkRanges(ranges []*pb.BucketRange, field string) []span {
	var good []span
	for i, r := range ranges {
		if !(r.GetStart() < r.GetEnd() && r.GetEnd() <= BucketCount) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "[%d, %d) is not within [0, %d) with start < end",
				r.GetStart(), r.GetEnd(), BucketCount)
			continue
		}
		good = append(good, span{r.GetStart(), r.GetEnd(), ""})
	}
	sortSpans(good)
	for i := 1; i < len(good); i++ {
		if good[i].start < good[i-1].end {
			v.add(field, "ranges [%d, %d) and [%d, %d) overlap", good[i-1].start, good[i-1].end, good[i].start, good[i].end)
		}
	}
	return good
}

func (v *validator) rules(rules []*pb.Rule, field string) {
	for i, rule := range rules {
		where := fmt.Sprintf("%s[%d]", field, i)
		if _, known := pb.Operator_name[int32(rule.GetOperator())]; !known || rule.GetOperator() == pb.Operator_OPERATOR_UNSPECIFIED {
			v.add(where+".operator", "unknown operator %d", int32(rule.GetOperator()))
			continue
		}
		if _, err := CompileRule(rule.GetAttribute(), rule.GetOperator(), rule.GetValues(), where); err != nil {
			re := err.(*RuleError)
			v.errors = append(v.errors, FieldError{re.Field, re.Message})
		}
	}
}

func (v *validator) experiment(exp *pb.Experiment, field string) {
	v.checkKey(exp.GetKey(), field+".key")
	if exp.GetUnitType() == "" {
		v.add(field+".unit_type", "must not be empty")
	}
	if st := exp.GetStatus(); st < pb.ExperimentStatus_EXPERIMENT_STATUS_DRAFT || st > pb.ExperimentStatus_EXPERIMENT_STATUS_ARCHIVED {
		v.add(field+".status", "unknown or unspecified status %d", int32(st))
	}
	if len(exp.GetVariants()) < 2 {
		v.add(field+".variants", "needs at least two variants, has %d", len(exp.GetVariants()))
	}
	keys := map[string]bool{}
	total := uint64(0)
	var owned []span
	for i, variant := range exp.GetVariants() {
		vfield := fmt.Sprintf("%s.variants[%d]", field, i)
		if variant.GetKey() == "" {
			v.add(vfield+".key", "must not be empty")
		} else if keys[variant.GetKey()] {
			v.add(vfield+".key", "duplicate variant key %q", variant.GetKey())
		}
		keys[variant.GetKey()] = true
		total += uint64(variant.GetWeight())
		ranges := v.checkRanges(variant.GetRanges(), vfield+".ranges")
		size := uint64(0)
		for _, r := range ranges {
			size += uint64(r.end - r.start)
			owned = append(owned, span{r.start, r.end, variant.GetKey()})
		}
		if size != uint64(variant.GetWeight()) {
			v.add(vfield+".ranges", "cover %d buckets but weight is %d", size, variant.GetWeight())
		}
	}
	if len(exp.GetVariants()) > 0 && total != uint64(BucketCount) {
		v.add(field+".variants", "weights sum to %d, want %d", total, BucketCount)
	}
	sortSpans(owned)
	for i := 1; i < len(owned); i++ {
		a, b := owned[i-1], owned[i]
		if b.start < a.end && a.key != b.key {
			v.add(field+".variants", "variants %q [%d, %d) and %q [%d, %d) overlap", a.key, a.start, a.end, b.key, b.start, b.end)
		}
	}
	v.checkRanges(exp.GetRanges(), field+".ranges")
	v.rules(exp.GetRules(), field+".rules")
	ids := make([]string, 0, len(exp.GetOverrides()))
	for id := range exp.GetOverrides() {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if vk := exp.GetOverrides()[id]; !keys[vk] {
			v.add(fmt.Sprintf("%s.overrides[%s]", field, id), "unknown variant %q", vk)
		}
	}
	if exp.GetStatus() == pb.ExperimentStatus_EXPERIMENT_STATUS_SHIPPED && exp.GetShippedVariant() == "" {
		v.add(field+".shipped_variant", "a SHIPPED experiment needs a shipped variant")
	}
	if exp.GetShippedVariant() != "" && !keys[exp.GetShippedVariant()] {
		v.add(field+".shipped_variant", "unknown variant %q", exp.GetShippedVariant())
	}
}

// Validate lists every problem that would make snapshot unsafe to serve
// (the same checks and field paths as validate.py); empty when valid.
func Validate(snapshot *pb.ConfigSnapshot) []FieldError {
	v := &validator{}
	layerIDs := map[string]bool{}
	for i, layer := range snapshot.GetLayers() {
		field := fmt.Sprintf("layers[%s]", orIndex(layer.GetId(), i))
		v.checkKey(layer.GetId(), field+".id")
		if layerIDs[layer.GetId()] {
			v.add(field+".id", "duplicate layer id %q", layer.GetId())
		}
		layerIDs[layer.GetId()] = true
	}
	seen := map[string]bool{}
	byLayer := map[string][]span{}
	for i, exp := range snapshot.GetExperiments() {
		field := fmt.Sprintf("experiments[%s]", orIndex(exp.GetKey(), i))
		if seen[exp.GetKey()] {
			v.add(field+".key", "duplicate experiment key %q", exp.GetKey())
		}
		seen[exp.GetKey()] = true
		v.experiment(exp, field)
		if !layerIDs[exp.GetLayerId()] {
			v.add(field+".layer_id", "unknown layer %q", exp.GetLayerId())
		}
		for _, r := range exp.GetRanges() {
			byLayer[exp.GetLayerId()] = append(byLayer[exp.GetLayerId()], span{r.GetStart(), r.GetEnd(), exp.GetKey()})
		}
	}
	layerNames := make([]string, 0, len(byLayer))
	for id := range byLayer {
		layerNames = append(layerNames, id)
	}
	sort.Strings(layerNames)
	for _, id := range layerNames {
		owned := byLayer[id]
		sortSpans(owned)
		for i := 1; i < len(owned); i++ {
			a, b := owned[i-1], owned[i]
			if b.start < a.end && a.key != b.key {
				v.add(fmt.Sprintf("layers[%s]", id), "experiments %q [%d, %d) and %q [%d, %d) overlap",
					a.key, a.start, a.end, b.key, b.start, b.end)
			}
		}
	}
	holdoutIDs := map[string]bool{}
	for i, h := range snapshot.GetHoldouts() {
		field := fmt.Sprintf("holdouts[%s]", orIndex(h.GetId(), i))
		v.checkKey(h.GetId(), field+".id")
		if holdoutIDs[h.GetId()] {
			v.add(field+".id", "duplicate holdout id %q", h.GetId())
		}
		holdoutIDs[h.GetId()] = true
		if h.GetPercentBp() > BucketCount {
			v.add(field+".percent_bp", "%d exceeds %d", h.GetPercentBp(), BucketCount)
		}
		for j, lid := range h.GetLayerIds() {
			if !layerIDs[lid] {
				v.add(fmt.Sprintf("%s.layer_ids[%d]", field, j), "unknown layer %q", lid)
			}
		}
	}
	return v.errors
}

func orIndex(key string, i int) string {
	if key != "" {
		return key
	}
	return fmt.Sprint(i)
}
