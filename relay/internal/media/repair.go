package media

import (
	"sync/atomic"
	"time"
)

// Loss repair on the publisher → relay leg, the only leg of a broadcast
// that is plain UDP (viewers are reached over QUIC, which retransmits by
// itself). The relay asks the sender for each missing RTP packet with
// generic NACKs (RFC 4585 §6.2.1); the sender resends the very packet
// (same SSRC and sequence number, so no RTX stream is needed, RFC 4588 §1).
//
// Video is released to the fan-out in sequence-number order: a packet
// behind a gap waits until the gap is repaired or given up, so the group
// cache and every viewer get each frame's packets in order and a keyframe
// whose first packet came back late still opens its group. Audio is
// forwarded as it arrives (the viewer's jitter buffer reorders it) and only
// its gaps are asked for.

const (
	repairSlots = 1024 // packets tracked behind the oldest gap (~4 s of 1 Mbit/s video)
	maxNACKs    = 4    // requests per missing packet

	minReorderWait = 2 * time.Millisecond
	maxReorderWait = 50 * time.Millisecond
	minRetry       = 10 * time.Millisecond
	initialRTT     = 50 * time.Millisecond
	minGiveUp      = 100 * time.Millisecond
	maxGiveUp      = 400 * time.Millisecond
)

// repairer tracks the sequence numbers of one RTP stream of a publisher:
// which are missing, when to ask for them again, and (hold) which packets
// wait behind a gap. It belongs to the ingest goroutine.
type repairer struct {
	hold    bool
	started bool
	next    uint16 // the oldest sequence number not yet released
	highest uint16 // the newest received
	slots   [repairSlots]repairSlot
	rtt     time.Duration // smoothed, from repairs of packets asked for once
	haveRTT bool
	// reorder is how late packets that were only reordered came (a
	// decaying maximum): a gap is not asked for before that.
	reorder time.Duration
	c       *repairCounters
}

// repairCounters count the repairs of every stream of a hub.
type repairCounters struct {
	nacked, repaired, gaveUp, late, duplicates atomic.Uint64
}

func newRepairer(hold bool, c *repairCounters) *repairer { return &repairer{hold: hold, c: c} }

type repairSlot struct {
	seq    uint16
	have   bool // received (and, when holding, pkt is set until released)
	miss   bool // missing, being asked for
	pkt    []byte
	hdrLen int
	since  time.Time // missing since
	nackAt time.Time // next request due
	asked  time.Time // last request sent
	nacks  int
}

// release is a packet the fan-out may have now.
type release struct {
	pkt    []byte
	hdrLen int
}

// reorderWait is how long a gap may be reordering before it is asked for:
// the interarrival jitter, within bounds.
func reorderWait(jitter time.Duration) time.Duration {
	return min(max(jitter, minReorderWait), maxReorderWait)
}

// wait is how long a new gap waits before it is asked for: as long as
// reordered packets have been late lately, at least the jitter.
func (r *repairer) wait(jitter time.Duration) time.Duration {
	return reorderWait(max(jitter, r.reorder+r.reorder/8))
}

func (r *repairer) retry() time.Duration {
	rtt := initialRTT
	if r.haveRTT {
		rtt = r.rtt
	}
	return max(rtt+rtt/2, minRetry)
}

// giveUp is how long a missing packet is waited for: enough for the
// requests to be answered, not so long that the held video freezes.
func (r *repairer) giveUp(jitter time.Duration) time.Duration {
	rtt := initialRTT
	if r.haveRTT {
		rtt = r.rtt
	}
	return min(max(r.wait(jitter)+maxNACKs*r.retry(), minGiveUp, 2*rtt), maxGiveUp)
}

// seen reports whether seq was received or released already: a
// retransmission that crossed the original, or a duplicate. It changes
// nothing (the header is not authenticated yet when it is asked).
func (r *repairer) seen(seq uint16) bool {
	if !r.started {
		return false
	}
	ahead := seq - r.next
	if ahead >= 1<<15 {
		return true
	}
	sl := &r.slots[seq%repairSlots]
	return ahead < repairSlots && sl.seq == seq && sl.have
}

// pending reports whether a gap is open.
func (r *repairer) pending() bool { return r.started && r.next != r.highest+1 }

// push takes packet seq received at now and appends to out what may be
// released. jitter is the source's interarrival jitter (RFC 3550 A.8).
func (r *repairer) push(seq uint16, pkt []byte, hdrLen int, now time.Time, jitter time.Duration, out []release) []release {
	if !r.started {
		r.started, r.next, r.highest = true, seq, seq-1
	}
	ahead := seq - r.next
	if ahead >= 1<<15 {
		r.c.late.Add(1) // released or given up already
		return out
	}
	if ahead >= repairSlots {
		// Far ahead of the oldest gap: the source jumped, or the gap is
		// hopeless. Release what is held and start from here.
		out = r.flush(out)
		r.next, r.highest = seq, seq-1
	}
	if d := seq - r.highest; d != 0 && d < 1<<15 {
		wait := r.wait(jitter)
		for s := r.highest + 1; s != seq; s++ {
			r.slots[s%repairSlots] = repairSlot{seq: s, miss: true, since: now, nackAt: now.Add(wait)}
		}
		r.highest = seq
	}
	sl := &r.slots[seq%repairSlots]
	switch {
	case sl.seq == seq && sl.have:
		r.c.duplicates.Add(1)
		return out
	case sl.seq == seq && sl.miss && sl.nacks == 0:
		// Not asked for yet: it was only reordered, this late.
		r.reorder = max(now.Sub(sl.since), r.reorder-r.reorder/256)
	case sl.seq == seq && sl.miss:
		r.c.repaired.Add(1)
		if sl.nacks == 1 { // unambiguous: the answer to the one request (Karn)
			r.sampleRTT(now.Sub(sl.asked))
		}
	}
	*sl = repairSlot{seq: seq, have: true}
	if !r.hold {
		out = append(out, release{pkt: pkt, hdrLen: hdrLen})
	} else {
		sl.pkt, sl.hdrLen = pkt, hdrLen
	}
	return r.drain(out)
}

func (r *repairer) sampleRTT(d time.Duration) {
	if !r.haveRTT {
		r.rtt, r.haveRTT = d, true
		return
	}
	r.rtt += (d - r.rtt) / 8
}

// drain releases the packets from next on that are there.
func (r *repairer) drain(out []release) []release {
	for r.next != r.highest+1 {
		sl := &r.slots[r.next%repairSlots]
		if sl.seq != r.next || !sl.have {
			break
		}
		if sl.pkt != nil {
			out = append(out, release{pkt: sl.pkt, hdrLen: sl.hdrLen})
		}
		*sl = repairSlot{}
		r.next++
	}
	return out
}

// flush releases everything held, in order, giving up on every gap.
func (r *repairer) flush(out []release) []release {
	for r.next != r.highest+1 {
		sl := &r.slots[r.next%repairSlots]
		if sl.seq == r.next && sl.have && sl.pkt != nil {
			out = append(out, release{pkt: sl.pkt, hdrLen: sl.hdrLen})
		} else if sl.seq == r.next && sl.miss {
			r.c.gaveUp.Add(1)
		}
		*sl = repairSlot{}
		r.next++
	}
	return out
}

// tick gives up on the gaps waited for long enough (releasing what they
// held back), appends to nacks the sequence numbers to ask for now, and
// returns when it wants to be called again (zero: nothing is missing).
// lost reports whether a packet was given up.
func (r *repairer) tick(now time.Time, jitter time.Duration, nacks []uint16, out []release) (_ []uint16, _ []release, next time.Time, lost bool) {
	giveUp, retry := r.giveUp(jitter), r.retry()
	// The oldest gaps first: giving up on one releases what waits behind it.
	for r.next != r.highest+1 {
		sl := &r.slots[r.next%repairSlots]
		if sl.seq != r.next || !sl.miss || now.Sub(sl.since) < giveUp {
			break
		}
		r.c.gaveUp.Add(1)
		lost = true
		*sl = repairSlot{}
		r.next++
		out = r.drain(out)
	}
	for s := r.next; s != r.highest+1; s++ {
		sl := &r.slots[s%repairSlots]
		if sl.seq != s || !sl.miss {
			continue
		}
		if sl.nacks < maxNACKs && !now.Before(sl.nackAt) {
			nacks = append(nacks, s)
			sl.nacks++
			sl.asked, sl.nackAt = now, now.Add(retry)
			r.c.nacked.Add(1)
		}
		due := sl.since.Add(giveUp)
		if sl.nacks < maxNACKs && sl.nackAt.Before(due) {
			due = sl.nackAt
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return nacks, out, next, lost
}
