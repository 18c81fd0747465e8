// Package player is the logic of the quicast browser player, kept apart
// from the syscall/js glue so it is tested on the host: VP8 frame
// reassembly from RTP (RFC 7741), the audio timeline that maps played
// samples back to RTP time, and the lip-sync decision of which video frame
// to show. Audio is the master clock.
package player

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"

	"github.com/quicast/quicast/protocol"
)

// Frame is one reassembled video frame.
type Frame struct {
	Data      []byte
	Timestamp uint32 // RTP, 90 kHz
	Keyframe  bool
}

var errShortPayload = errors.New("player: VP8 payload too short")

// Assembler joins the RTP packets of a video group into VP8 frames
// (RFC 7741 §4). Packets come in sequence-number order on a group stream
// (the relay repairs and reorders its ingest); a frame ends at the marker
// bit. A sequence number that skips means packets were lost for good: the
// frame they belonged to is dropped, and so is every delta frame after it
// until a keyframe, since they would be decoded against a picture the
// decoder never had.
type Assembler struct {
	cur     []byte
	ts      uint32
	active  bool
	lastSeq uint16
	haveSeq bool
	broken  bool // a packet of the current frame is missing, or it is too large
	lost    bool // a packet was lost since the last frame delivered

	hdr rtp.Header

	// Counters.
	FramesBroken uint64
}

// MaxFrameBytes bounds a reassembled frame (a 4K VP8 keyframe at high
// quality is well under it); a larger one is dropped as broken.
const MaxFrameBytes = 4 << 20

// ErrLoss is returned for a complete frame that cannot be decoded because
// packets were lost in it or before it: the caller waits for the next
// keyframe and asks for one.
var ErrLoss = errors.New("player: video packets lost: waiting for a keyframe")

// Reset drops a partial frame, at the start of a new group.
func (a *Assembler) Reset() {
	a.cur, a.active, a.broken, a.haveSeq = a.cur[:0], false, false, false
}

// Push adds one RTP packet. It returns a complete frame when pkt ends one;
// the frame's Data is only valid until the next call. A frame that lost
// packets, and every delta frame after it until a keyframe, is dropped
// with ErrLoss.
func (a *Assembler) Push(pkt []byte) (Frame, bool, error) {
	n, err := a.hdr.Unmarshal(pkt)
	if err != nil {
		return Frame{}, false, fmt.Errorf("player: RTP header: %w", err)
	}
	payload := pkt[n:]
	if a.hdr.Padding && len(payload) > 0 {
		pad := int(payload[len(payload)-1])
		if pad > len(payload) {
			return Frame{}, false, errShortPayload
		}
		payload = payload[:len(payload)-pad]
	}
	d, ok := protocol.VP8DescriptorLen(payload)
	if !ok {
		return Frame{}, false, errShortPayload
	}
	if a.haveSeq && a.hdr.SequenceNumber != a.lastSeq+1 {
		a.lost = true
		if a.active {
			a.broken = true
		}
	}
	a.lastSeq, a.haveSeq = a.hdr.SequenceNumber, true
	start := payload[0]&0x10 != 0 && payload[0]&0x07 == 0
	if start || !a.active || a.hdr.Timestamp != a.ts {
		if a.active && !start {
			a.broken = true // continuation without a start: its start was lost
		}
		if start {
			if a.active && len(a.cur) > 0 {
				a.FramesBroken++ // the previous frame never got its marker
				a.lost = true
			}
			a.cur, a.broken = a.cur[:0], false
		}
		a.active, a.ts = true, a.hdr.Timestamp
	}
	if len(a.cur)+len(payload)-d > MaxFrameBytes {
		a.broken = true
		a.cur = a.cur[:0]
	}
	if !a.broken {
		a.cur = append(a.cur, payload[d:]...)
	}
	if !a.hdr.Marker {
		return Frame{}, false, nil
	}
	a.active = false
	if a.broken || len(a.cur) == 0 {
		a.FramesBroken++
		a.broken, a.lost = false, true
		return Frame{}, false, ErrLoss
	}
	f := Frame{Data: a.cur, Timestamp: a.ts, Keyframe: a.cur[0]&0x01 == 0}
	if a.lost && !f.Keyframe {
		a.FramesBroken++
		return Frame{}, false, ErrLoss
	}
	a.lost = false
	return f, true, nil
}

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

// Pending is a decoded video frame waiting for its time.
type Pending struct {
	Wall time.Time // sender wall-clock time of the frame (zero if unknown)
}

// Pick decides what to show when the audio being heard has sender wall time
// audioNow: the newest frame due (Wall ≤ audioNow + lead) is rendered and
// the older due ones are dropped as late. Frames too far ahead of the audio
// (more than maxAhead, a broken clock mapping) are shown anyway. It returns
// the index to render (-1 for none) and how many frames before it to drop.
func Pick(queue []Pending, audioNow time.Time, lead, maxAhead time.Duration) (render, drop int) {
	render = -1
	for i, p := range queue {
		if p.Wall.IsZero() || audioNow.IsZero() || !p.Wall.After(audioNow.Add(lead)) || p.Wall.Sub(audioNow) > maxAhead {
			render = i
			continue
		}
		break
	}
	if render < 0 {
		return -1, 0
	}
	return render, render
}
