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

// DecodeQueue remembers the extended RTP timestamps of the audio packets
// handed to a WebCodecs AudioDecoder, in order, until their output comes
// back. The decoder gives one AudioData per Opus packet, in decode order
// (W3C WebCodecs §3), but the browser may stamp them by counting samples
// from the first chunk (Chromium does): after a packet lost on the network
// or dropped by the sender, every later output would be stamped early by
// the missing audio, the gap would go unconcealed and the audio clock would
// fall behind the video by that much more each time. The queue says which
// packet each output is.
type DecodeQueue struct {
	ts []int64
}

// maxDecoding bounds a DecodeQueue: a decoder that never gives outputs
// back (closed by an error) does not grow it forever.
const maxDecoding = 256

// Push records a packet of extended RTP timestamp ts handed to the decoder.
func (q *DecodeQueue) Push(ts int64) {
	if len(q.ts) >= maxDecoding {
		q.ts = q.ts[:copy(q.ts, q.ts[maxDecoding/2:])]
	}
	q.ts = append(q.ts, ts)
}

// Pop returns the timestamp of the oldest packet not given back yet; false
// when there is none (the output is not one of ours).
func (q *DecodeQueue) Pop() (int64, bool) {
	if len(q.ts) == 0 {
		return 0, false
	}
	ts := q.ts[0]
	q.ts = q.ts[1:]
	return ts, true
}

// Reset forgets every packet: the decoder was reset or closed, and its
// outputs will not come.
func (q *DecodeQueue) Reset() { q.ts = q.ts[:0] }

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
