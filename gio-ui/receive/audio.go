package receive

import (
	"math"
	"sync"
	"time"
)

// Output format of the receiver's sound: what Playout holds and a speaker
// plays.
const (
	SampleRate = 48000 // Hz, Opus's own (RFC 7587)
	Channels   = 2     // interleaved int16, left first

	frame10ms = SampleRate / 100 // samples per channel in a 10 ms Opus packet
)

// Playout is the sound between the decoder and the speaker: the decoder
// writes, the audio device's callback reads on its own clock. It holds a
// target delay of sound (PlayoutTarget): it starts playing once that much
// has come, plays silence when it runs dry (Stats.Underruns), drops the
// oldest sound when more than PlayoutTarget+playoutSlack waits, and drops
// what stayed above the target for half a second without being needed (a
// burst of arrivals, clock drift), so the delay stays near the target.
// Safe for concurrent use.
type Playout struct {
	mu      sync.Mutex
	buf     []int16 // ring, interleaved
	r, n    int     // read position, samples held (interleaved)
	target  int     // interleaved samples
	playing bool
	now     func() time.Time

	// marks tie sample frames (counted from the first written) to their
	// capture time on the sender's clock, one per write that knew it.
	marks []mark
	delay time.Duration // capture → read of the last sound read; 0 unknown
	level float64       // peak of the last sound read, dBFS (-inf silence)

	// The least sound held before a read in the current window of
	// trimWindow: what was never needed to ride out jitter.
	minFill, windowRead int

	written, read, underrun, trimmed uint64 // per channel sample frames
}

type mark struct {
	frame   uint64 // index of the first sample frame of a write
	capture time.Time
}

// PlayoutTarget is the sound a Playout holds before it starts, and keeps:
// four 10 ms packets, room for the jitter of a loopback or a LAN.
const PlayoutTarget = 40 * time.Millisecond

// playoutSlack is how far above its target a Playout may fill before the
// oldest sound is dropped.
const playoutSlack = 60 * time.Millisecond

// NewPlayout returns an empty playout buffer.
func NewPlayout() *Playout {
	return &Playout{buf: make([]int16, SampleRate*Channels), target: samples(PlayoutTarget), now: time.Now, level: math.Inf(-1)}
}

func samples(d time.Duration) int { return int(d.Seconds()*SampleRate) * Channels }

// Write appends interleaved stereo sound captured at capture on the
// sender's clock (zero: not known, as for concealment).
func (p *Playout) Write(pcm []int16, capture time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !capture.IsZero() {
		if len(p.marks) == maxMarks {
			p.marks = append(p.marks[:0], p.marks[1:]...)
		}
		p.marks = append(p.marks, mark{frame: p.written, capture: capture})
	}
	for len(pcm) > 0 {
		if p.n == len(p.buf) {
			break
		}
		w := (p.r + p.n) % len(p.buf)
		c := copy(p.buf[w:min(len(p.buf), w+len(p.buf)-p.n)], pcm)
		p.n += c
		pcm = pcm[c:]
		p.written += uint64(c / Channels)
	}
	if over := p.n - (p.target + samples(playoutSlack)); over > 0 {
		over -= over % Channels
		p.r = (p.r + over) % len(p.buf)
		p.n -= over
		p.trimmed += uint64(over / Channels)
	}
	if !p.playing && p.n >= p.target {
		p.playing = true
	}
}

// trimWindow is how much sound is read before the Playout looks at the
// least it held meanwhile: sound above the target that was never needed
// over that long is dropped, once, so the delay comes back to the target.
const trimWindow = SampleRate / 2 * Channels // 0.5 s

// trimMargin is how far above its target the least held sound may stay.
const trimMargin = 10 * time.Millisecond

// maxMarks bounds the capture marks kept: 2 s of 10 ms packets, more than
// a Playout ever holds.
const maxMarks = 200

// Read fills out (interleaved stereo) with the sound that is due, and
// silence for what has not come.
func (p *Playout) Read(out []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.playing {
		if p.windowRead == 0 || p.n < p.minFill {
			p.minFill = p.n
		}
		p.windowRead += len(out)
		if p.windowRead >= trimWindow {
			if over := p.minFill - p.target; over > samples(trimMargin) {
				over -= over % Channels
				p.r = (p.r + over) % len(p.buf)
				p.n -= over
				p.trimmed += uint64(over / Channels)
			}
			p.windowRead = 0
		}
	}
	if p.playing && p.n > 0 {
		p.measureLocked()
	}
	got := 0
	if p.playing {
		for got < len(out) && p.n > 0 {
			c := copy(out[got:], p.buf[p.r:min(len(p.buf), p.r+p.n)])
			got += c
			p.r = (p.r + c) % len(p.buf)
			p.n -= c
		}
	}
	clear(out[got:])
	peak := 0
	for _, v := range out[:got] {
		peak = max(peak, abs(int(v)))
	}
	p.level = 20 * math.Log10(float64(peak)/32768)
	p.read += uint64(len(out) / Channels)
	if p.playing && got < len(out) {
		p.underrun += uint64((len(out) - got) / Channels)
		p.playing = false // wait for the target again: one gap, not a stutter
	}
}

// measureLocked works out, for the first sample frame about to be read,
// how long ago it was captured.
func (p *Playout) measureLocked() {
	at := p.written - uint64(p.n/Channels) // the frame at the read position
	var m *mark
	for i := len(p.marks) - 1; i >= 0; i-- {
		if p.marks[i].frame <= at {
			// Marks before it are behind the read position for good.
			p.marks = append(p.marks[:0], p.marks[i:]...)
			m = &p.marks[0]
			break
		}
	}
	if m == nil {
		return
	}
	capture := m.capture.Add(time.Duration(at-m.frame) * time.Second / SampleRate)
	p.delay = p.now().Sub(capture)
}

// Delay is how long before its reading the sound last read was captured,
// on the sender's clock: the mouth-to-ear delay up to this side's output
// device's own latency. 0 until known.
func (p *Playout) Delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// Level is the peak of the sound last read, in dBFS (-inf: silence): what
// is being heard now, for a level meter or a speaking highlight.
func (p *Playout) Level() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.level
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// PlayoutStats count sample frames (one sample a channel) since the start.
type PlayoutStats struct {
	Written, Read, Underrun, Trimmed uint64
	Buffered                         time.Duration
}

// Stats returns a snapshot of the counters.
func (p *Playout) Stats() PlayoutStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PlayoutStats{Written: p.written, Read: p.read, Underrun: p.underrun, Trimmed: p.trimmed,
		Buffered: time.Duration(p.n/Channels) * time.Second / SampleRate}
}
