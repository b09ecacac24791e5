package core

// Reason says why an assignment came out the way it did. The values equal
// the splitline.v1.Reason proto numbers; String gives the contract's name.
type Reason int32

const (
	ReasonUnspecified       Reason = 0
	ReasonAssigned          Reason = 1 // 8. hashed into a variant
	ReasonNotInTraffic      Reason = 2 // 7./8. outside the experiment's ranges
	ReasonNotEligible       Reason = 3 // 5. a targeting rule failed
	ReasonHoldout           Reason = 4 // 6. held out by a holdout covering the layer
	ReasonOverride          Reason = 5 // 3. forced by the overrides map (QA)
	ReasonNotRunning        Reason = 6 // 4. DRAFT, PAUSED, CONCLUDED, REVERTED, ARCHIVED
	ReasonShipped           Reason = 7 // 4. SHIPPED: the shipped variant for eligible units
	ReasonNoUnit            Reason = 8 // 2. no (non-empty) id of the experiment's unit type
	ReasonUnknownExperiment Reason = 9 // 1. not in the snapshot
)

var reasonNames = [...]string{
	"UNSPECIFIED", "ASSIGNED", "NOT_IN_TRAFFIC", "NOT_ELIGIBLE", "HOLDOUT", "OVERRIDE",
	"NOT_RUNNING", "SHIPPED", "NO_UNIT", "UNKNOWN_EXPERIMENT",
}

// String is the contract's name of the reason, e.g. "ASSIGNED".
func (r Reason) String() string {
	if r >= 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "UNSPECIFIED"
}

// ParseReason is the inverse of String; ok is false for an unknown name.
func ParseReason(name string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == name {
			return Reason(i), true
		}
	}
	return ReasonUnspecified, false
}
