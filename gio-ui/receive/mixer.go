package receive

import (
	"slices"
	"sync"
)

// Sound is what a speaker plays: Read fills out (interleaved stereo at
// SampleRate) with what is due now, silence for what is not there. A
// Playout is one; a Mixer is several.
type Sound interface {
	Read(out []int16)
}

// Mixer plays several participants' Playouts as one sound: each is read
// on the speaker's clock, so each keeps its own playout delay, level and
// capture marks, and the samples are summed, clipped to int16. With one
// Playout it passes its sound through unchanged. Safe for concurrent use;
// Add and Remove may be called while a speaker reads.
type Mixer struct {
	mu  sync.Mutex
	ins []*Playout
	buf []int16 // one input's sound
	acc []int32 // the sum
}

// NewMixer returns a mixer with no inputs: it plays silence.
func NewMixer() *Mixer { return &Mixer{} }

// Add starts mixing p in; adding it twice does nothing.
func (m *Mixer) Add(p *Playout) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.ins, p) {
		m.ins = append(m.ins, p)
	}
}

// Remove stops mixing p in.
func (m *Mixer) Remove(p *Playout) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ins = slices.DeleteFunc(m.ins, func(q *Playout) bool { return q == p })
}

// Inputs is how many Playouts are mixed.
func (m *Mixer) Inputs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ins)
}

// Read fills out with the sum of every input's sound due now.
func (m *Mixer) Read(out []int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch len(m.ins) {
	case 0:
		clear(out)
		return
	case 1:
		m.ins[0].Read(out)
		return
	}
	if cap(m.acc) < len(out) {
		m.acc, m.buf = make([]int32, len(out)), make([]int16, len(out))
	}
	acc, buf := m.acc[:len(out)], m.buf[:len(out)]
	clear(acc)
	for _, p := range m.ins {
		p.Read(buf)
		for i, v := range buf {
			acc[i] += int32(v)
		}
	}
	for i, v := range acc {
		out[i] = int16(max(-32768, min(32767, v)))
	}
}
