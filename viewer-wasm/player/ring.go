package player

// ring keeps the last size values added (a rolling window for
// percentiles); the order of all is not kept.
type ring[T any] struct {
	all  []T
	next int
}

// add puts v in, replacing the oldest value once size are held.
func (r *ring[T]) add(v T, size int) {
	if len(r.all) < size {
		r.all = append(r.all, v)
		return
	}
	r.all[r.next%len(r.all)] = v
	r.next = (r.next + 1) % len(r.all)
}

// reset empties the window, keeping its storage.
func (r *ring[T]) reset() { r.all, r.next = r.all[:0], 0 }
