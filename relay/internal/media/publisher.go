package media

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

const pliInterval = 500 * time.Millisecond

// publisher is one publish session: its SRTP contexts, SSRCs, the latched
// address of the sender, and receive statistics for receiver reports.
type publisher struct {
	id                              string
	keyID                           string // the publish key it was allowed by
	stream                          *stream
	rx                              *srtp.Context // ingest goroutine only
	tx                              *srtp.Context // under txMu
	txMu                            sync.Mutex
	videoSSRC, audioSSRC, relaySSRC uint32
	created                         time.Time
	dropAuth                        atomic.Uint64
	videoRepair, audioRepair        *repairer // the ingest goroutine's

	mu      sync.Mutex
	addr    net.Addr
	last    time.Time
	lastPLI time.Time
	stats   map[uint32]*recvStats
}

// latch records the sender's address from a packet that authenticated, so a
// NAT rebinding is followed.
func (p *publisher) latch(h *Hub, addr net.Addr, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = now
	if p.addr != nil && sameAddr(p.addr, addr) {
		return
	}
	if p.addr != nil {
		h.c.relatches.Add(1)
	}
	p.addr = addr
}

// sameAddr compares two datagram sources without formatting them (this
// runs for every packet).
func sameAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	if ok1 && ok2 {
		return ua.Port == ub.Port && ua.IP.Equal(ub.IP) && ua.Zone == ub.Zone
	}
	return a.String() == b.String()
}

func (p *publisher) address() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *publisher) lastSeen() (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.addr != nil
}

// live reports whether p counts as publishing at now: it sent a packet, or
// was created, less than publisherTimeout ago.
func (p *publisher) live(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr == nil {
		return now.Sub(p.created) < publisherTimeout
	}
	return now.Sub(p.last) < publisherTimeout
}

func (p *publisher) allowPLI(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.lastPLI) < pliInterval {
		return false
	}
	p.lastPLI = now
	return true
}

// recv counts a packet of ssrc and returns the source's interarrival
// jitter.
func (p *publisher) recv(ssrc uint32, seq uint16, ts uint32, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats[ssrc]
	if s == nil {
		return 0
	}
	s.update(seq, ts, now)
	return s.jitterDuration()
}

// jitter returns the interarrival jitter of ssrc (RFC 3550 A.8).
func (p *publisher) jitter(ssrc uint32) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stats[ssrc]; s != nil {
		return s.jitterDuration()
	}
	return 0
}

// senderReport notes the arrival of ssrc's sender report with NTP time ntp,
// for the LSR and DLSR of the next receiver report (RFC 3550 §6.4.1), from
// which the sender computes the round-trip time.
func (p *publisher) senderReport(ssrc uint32, ntp uint64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stats[ssrc]; s != nil {
		s.lastSR, s.lastSRAt = uint32(ntp>>16), now
	}
}

// receiverReport builds an RTCP receiver report (RFC 3550 §6.4.2) with a
// block per track that has received packets.
func (p *publisher) receiverReport(now time.Time) []rtcp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	rr := &rtcp.ReceiverReport{SSRC: p.relaySSRC}
	for ssrc, s := range p.stats {
		if s.received == 0 {
			continue
		}
		rr.Reports = append(rr.Reports, s.block(ssrc, now))
	}
	return []rtcp.Packet{rr}
}

// recvStats are the per-source receive statistics of RFC 3550 Appendix A.1
// (sequence number extension), A.3 (loss) and A.8 (interarrival jitter).
type recvStats struct {
	clockRate        uint32
	started          bool
	baseSeq, maxSeq  uint16
	cycles           uint32
	received         uint32
	expectedPrior    uint32
	receivedPrior    uint32
	jitter           float64 // in RTP timestamp units
	lastTransit      int64
	haveTransit      bool
	lastArrivalStart time.Time
	lastSR           uint32    // middle 32 bits of the last sender report's NTP time
	lastSRAt         time.Time // when it arrived
}

func (s *recvStats) jitterDuration() time.Duration {
	return time.Duration(s.jitter * float64(time.Second) / float64(s.clockRate))
}

func (s *recvStats) update(seq uint16, ts uint32, now time.Time) {
	if !s.started {
		s.started, s.baseSeq, s.maxSeq, s.lastArrivalStart = true, seq, seq, now
	} else if d := seq - s.maxSeq; d > 0 && d < 1<<15 {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	}
	s.received++
	arrival := int64(now.Sub(s.lastArrivalStart).Seconds() * float64(s.clockRate))
	transit := arrival - int64(ts)
	if s.haveTransit {
		d := transit - s.lastTransit
		if d < 0 {
			d = -d
		}
		s.jitter += (float64(d) - s.jitter) / 16
	}
	s.lastTransit, s.haveTransit = transit, true
}

func (s *recvStats) block(ssrc uint32, now time.Time) rtcp.ReceptionReport {
	extMax := s.cycles + uint32(s.maxSeq)
	expected := extMax - uint32(s.baseSeq) + 1
	lost := int64(expected) - int64(s.received)
	expInt := expected - s.expectedPrior
	recInt := s.received - s.receivedPrior
	s.expectedPrior, s.receivedPrior = expected, s.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recInt); expInt > 0 && lostInt > 0 {
		fraction = uint8(lostInt << 8 / int64(expInt))
	}
	if lost < 0 {
		lost = 0
	}
	if lost > 0x7fffff {
		lost = 0x7fffff
	}
	var dlsr uint32
	if s.lastSR != 0 {
		dlsr = uint32(now.Sub(s.lastSRAt) * 65536 / time.Second) // units of 1/65536 s
	}
	return rtcp.ReceptionReport{SSRC: ssrc, FractionLost: fraction, TotalLost: uint32(lost),
		LastSequenceNumber: extMax, Jitter: uint32(s.jitter), LastSenderReport: s.lastSR, Delay: dlsr}
}
