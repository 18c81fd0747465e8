package protocol

import (
	"time"
)

// JitterBuffer puts the RTP packets of one source back in sequence-number
// order (wrap-aware) and decides when a missing packet is lost: it waits
// for a gap to fill at most the playout delay, which adapts to the measured
// interarrival jitter (RFC 3550 §6.4.1, estimator of Appendix A.8). It is
// meant for audio, where a late packet is worth less than a skipped one.
//
// The zero value is not usable; use NewJitterBuffer.
type JitterBuffer struct {
	minDelay time.Duration
	maxDelay time.Duration
	slots    [jitterSlots]jbSlot
	next     uint16 // next sequence number to release
	started  bool
	count    int
	jitter   Jitter
	wait     time.Duration // set by SetWait; 0: from the jitter

	// Counters.
	Lost, Late, Duplicate uint64
}

const jitterSlots = 512

type jbSlot struct {
	used    bool
	seq     uint16
	ts      uint32
	arrival time.Time
	payload []byte
}

// NewJitterBuffer returns a buffer for a source with clockRate (Hz) whose
// playout delay stays within [minDelay, maxDelay].
func NewJitterBuffer(clockRate uint32, minDelay, maxDelay time.Duration) *JitterBuffer {
	return &JitterBuffer{minDelay: minDelay, maxDelay: maxDelay, jitter: Jitter{ClockRate: clockRate}}
}

// Jitter returns the interarrival jitter estimate.
func (j *JitterBuffer) Jitter() time.Duration { return j.jitter.Duration() }

// Delay returns how long a gap may stay open: what SetWait said, or else
// three times the jitter, within [minDelay, maxDelay].
func (j *JitterBuffer) Delay() time.Duration {
	d := 3 * j.Jitter()
	if j.wait > 0 {
		d = j.wait
	}
	return min(max(d, j.minDelay), j.maxDelay)
}

// SetWait sets how long a gap may stay open (0: three times the jitter).
// A player that holds a playout buffer after this one can wait nearly as
// long as that buffer lasts for a packet to be resent, without a sound
// missing.
func (j *JitterBuffer) SetWait(d time.Duration) { j.wait = d }

// Len returns the number of packets held.
func (j *JitterBuffer) Len() int { return j.count }

// Push adds a packet that arrived at arrival. It keeps payload (the caller
// must not reuse it). Packets already released, or more than the buffer
// holds ahead, are counted as late and dropped.
func (j *JitterBuffer) Push(seq uint16, ts uint32, arrival time.Time, payload []byte) {
	j.jitter.Update(arrival, ts)

	if !j.started {
		j.started, j.next = true, seq
	}
	ahead := seq - j.next // distance from the next to release, mod 2^16
	if ahead >= 1<<15 {
		j.Late++
		return
	}
	if ahead >= jitterSlots {
		// Far ahead: the source jumped. Resynchronise on this packet.
		j.flush()
		j.next = seq
	}
	s := &j.slots[seq%jitterSlots]
	if s.used && s.seq == seq {
		j.Duplicate++
		return
	}
	*s = jbSlot{used: true, seq: seq, ts: ts, arrival: arrival, payload: payload}
	j.count++
}

func (j *JitterBuffer) flush() {
	for i := range j.slots {
		if j.slots[i].used {
			j.Lost++
		}
		j.slots[i] = jbSlot{}
	}
	j.count = 0
}

// Pop returns the next packet in order if it is there, skipping (and
// counting as lost) missing packets that newer ones have waited Delay()
// for. ok is false when nothing is due at now.
func (j *JitterBuffer) Pop(now time.Time) (seq uint16, ts uint32, payload []byte, ok bool) {
	for j.count > 0 {
		s := &j.slots[j.next%jitterSlots]
		if s.used && s.seq == j.next {
			seq, ts, payload = s.seq, s.ts, s.payload
			*s = jbSlot{}
			j.count--
			j.next++
			return seq, ts, payload, true
		}
		// A gap: give up on it once the oldest packet behind it waited long enough.
		oldest := time.Time{}
		for d := uint16(1); d < jitterSlots; d++ {
			if o := &j.slots[(j.next+d)%jitterSlots]; o.used && o.seq == j.next+d {
				oldest = o.arrival
				break
			}
		}
		if oldest.IsZero() || now.Sub(oldest) < j.Delay() {
			return 0, 0, nil, false
		}
		j.Lost++
		j.next++
	}
	return 0, 0, nil, false
}
