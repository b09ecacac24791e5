package splitline

import (
	"container/list"
	"sync"
)

// DefaultDedupSize bounds the exposure LRU of a Local client.
const DefaultDedupSize = 100000

type exposureKey struct {
	experiment, unitType, unitID, variant string
}

// exposureDedup is a bounded LRU of exposures this process already logged,
// keyed by (experiment, unit type, unit id, variant): a unit that moves to
// another variant is logged again, which lets analysis see and drop it.
type exposureDedup struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently seen
	seen  map[exposureKey]*list.Element
}

func newExposureDedup(max int) *exposureDedup {
	if max <= 0 {
		max = DefaultDedupSize
	}
	return &exposureDedup{max: max, order: list.New(), seen: map[exposureKey]*list.Element{}}
}

// firstTime reports whether key was not seen recently, and remembers it.
func (d *exposureDedup) firstTime(key exposureKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.seen[key]; ok {
		d.order.MoveToFront(el)
		return false
	}
	d.seen[key] = d.order.PushFront(key)
	if d.order.Len() > d.max {
		oldest := d.order.Back()
		d.order.Remove(oldest)
		delete(d.seen, oldest.Value.(exposureKey))
	}
	return true
}

// forget drops key, so that an exposure the queue refused can be logged later.
func (d *exposureDedup) forget(key exposureKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.seen[key]; ok {
		d.order.Remove(el)
		delete(d.seen, key)
	}
}
