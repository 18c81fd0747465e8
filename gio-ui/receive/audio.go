package receive

import (
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
// has come, plays silence when it runs dry (Stats.Underruns), and drops the
// oldest sound when more than PlayoutTarget+playoutSlack waits, so the
// delay never grows past what the network needed. Safe for concurrent use.
type Playout struct {
	mu      sync.Mutex
	buf     []int16 // ring, interleaved
	r, n    int     // read position, samples held (interleaved)
	target  int     // interleaved samples
	playing bool

	written, read, underrun, trimmed uint64 // per channel sample frames
}

// PlayoutTarget is the sound a Playout holds before it starts, and keeps:
// four 10 ms packets, room for the jitter of a loopback or a LAN.
const PlayoutTarget = 40 * time.Millisecond

// playoutSlack is how far above its target a Playout may fill before the
// oldest sound is dropped.
const playoutSlack = 60 * time.Millisecond

// NewPlayout returns an empty playout buffer.
func NewPlayout() *Playout {
	return &Playout{buf: make([]int16, SampleRate*Channels), target: samples(PlayoutTarget)}
}

func samples(d time.Duration) int { return int(d.Seconds()*SampleRate) * Channels }

// Write appends interleaved stereo sound.
func (p *Playout) Write(pcm []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
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

// Read fills out (interleaved stereo) with the sound that is due, and
// silence for what has not come.
func (p *Playout) Read(out []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
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
	p.read += uint64(len(out) / Channels)
	if p.playing && got < len(out) {
		p.underrun += uint64((len(out) - got) / Channels)
		p.playing = false // wait for the target again: one gap, not a stutter
	}
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
