// Package player is the logic of the quicast browser player, kept apart
// from the syscall/js glue so it is tested on the host: the broadcast and
// its group gate, the audio timeline that maps played samples back to RTP
// time, the lip-sync decision of which video frame to show (audio is the
// master clock), the playout target, the state machine and the
// measurements. VP8 reassembly is protocol/rtpvp8's.
package player

import (
	"time"
)

// Unwrapper extends 32-bit RTP timestamps to 64 bits across wrap-around.
type Unwrapper struct {
	last uint32
	high int64
	ok   bool
}

// Unwrap returns ts extended to 64 bits, continuing from the previous call.
func (u *Unwrapper) Unwrap(ts uint32) int64 {
	if !u.ok {
		u.last, u.ok = ts, true
		return int64(ts)
	}
	d := int32(ts - u.last)
	v := int64(u.last) + u.high + int64(d)
	u.high = v - int64(ts)
	u.last = ts
	return v
}

// AudioTimeline remembers, for the audio handed to the playout buffer,
// which RTP timestamp each sample had, so the read position the AudioWorklet
// reports (samples taken from its buffer since the broadcast began, played
// or skipped) maps back to media time.
type AudioTimeline struct {
	chunks []chunk
	total  int64 // samples handed over so far
}

type chunk struct {
	offset int64 // index of its first sample in the playout
	ts     int64 // extended RTP timestamp of its first sample
	n      int64
}

// Add records n samples starting at extended RTP timestamp ts.
func (t *AudioTimeline) Add(ts int64, n int) {
	t.chunks = append(t.chunks, chunk{offset: t.total, ts: ts, n: int64(n)})
	t.total += int64(n)
	if len(t.chunks) > 512 {
		t.chunks = append(t.chunks[:0], t.chunks[len(t.chunks)-256:]...)
	}
}

// MinConcealed and MaxConcealed bound the gap Gap reports (RTP ticks at
// 48 kHz: 1 ms and 100 ms). A shorter one is the rounding of timestamps
// through microseconds, a longer one an interruption, not a lost packet,
// and is not papered over.
const (
	MinConcealed = 48
	MaxConcealed = 4800
)

// Gap returns how many samples are missing between the audio added so far
// and audio starting at extended RTP timestamp ts: the packets the jitter
// buffer gave up on. 0 when ts follows on (or overlaps), or when the gap is
// outside [MinConcealed, MaxConcealed].
func (t *AudioTimeline) Gap(ts int64) int {
	if len(t.chunks) == 0 {
		return 0
	}
	last := t.chunks[len(t.chunks)-1]
	g := ts - (last.ts + last.n)
	if g < MinConcealed || g > MaxConcealed {
		return 0
	}
	return int(g)
}

// Next records the n samples of the packet at extended RTP timestamp ts,
// handed to the decoder on their way to the playout, after the time of the
// packets lost before it (Gap), and returns how many samples that is: what
// the playout fills in (conceals) before the packet's sound. Recorded when
// the packet goes to the decoder, in decode order: a WebCodecs AudioDecoder
// gives one AudioData per Opus packet in that order (W3C WebCodecs §3) but
// may stamp them by counting samples from the first (Chromium does), which
// would hide the gap.
func (t *AudioTimeline) Next(ts int64, n int) (conceal int) {
	if conceal = t.Gap(ts); conceal > 0 {
		t.Add(ts-int64(conceal), conceal)
	}
	t.Add(ts, n)
	return conceal
}

// Cut forgets the last n samples recorded: handed to a decoder that gave
// them up (reset, or closed by an error) instead of to the playout.
func (t *AudioTimeline) Cut(n int) {
	left := int64(n)
	for left > 0 && len(t.chunks) > 0 {
		c := &t.chunks[len(t.chunks)-1]
		k := min(left, c.n)
		c.n -= k
		t.total -= k
		left -= k
		if c.n == 0 {
			t.chunks = t.chunks[:len(t.chunks)-1]
		}
	}
}

// At returns the extended RTP timestamp of the sample at read position
// played.
func (t *AudioTimeline) At(played int64) (int64, bool) {
	for i := len(t.chunks) - 1; i >= 0; i-- {
		c := t.chunks[i]
		if played >= c.offset {
			if played > c.offset+c.n {
				played = c.offset + c.n
			}
			return c.ts + played - c.offset, true
		}
	}
	return 0, false
}

// Pending is a decoded video frame waiting for its time.
type Pending struct {
	Wall time.Time // sender wall-clock time of the frame (zero if unknown)
}

// Pick decides what to show when the audio being heard has sender wall time
// audioNow. A frame is due when Wall ≤ audioNow + lead. The oldest due frame
// is rendered unless its successor has been due for longer than catchUp
// already: then it is dropped as late, and so on. So a frame that comes a
// little late (a packet held up on the network) is still shown and the ones
// after it catch up, while a player far behind jumps to the present. Frames
// too far ahead of the audio (more than maxAhead, a broken clock mapping)
// are shown anyway. It returns the index to render (-1 for none) and how
// many frames before it to drop.
func Pick(queue []Pending, audioNow time.Time, lead, catchUp, maxAhead time.Duration) (render, drop int) {
	due := func(p Pending, by time.Duration) bool {
		return p.Wall.IsZero() || audioNow.IsZero() || !p.Wall.After(audioNow.Add(lead-by)) || p.Wall.Sub(audioNow) > maxAhead
	}
	if len(queue) == 0 || !due(queue[0], 0) {
		return -1, 0
	}
	render = 0
	for render+1 < len(queue) && due(queue[render+1], catchUp) {
		render++
	}
	return render, render
}
