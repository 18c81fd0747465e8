package media

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"golang.org/x/time/rate"

	"github.com/quicast/quicast/protocol"
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
	flood                           *rate.Limiter // bytes per second: Config.MaxPublishRate
	floodDrops                      atomic.Uint64
	floodBytes                      atomic.Uint64 // dropped above the cap since housekeeping last looked
	floodStrikes                    int           // housekeeping's: seconds in a row far above the cap
	videoRepair, audioRepair        *repairer     // the ingest goroutine's
	// keyframeStart tells the first packet of a keyframe of the video
	// codec (rtpvp8 or rtph264), by its payload.
	keyframeStart func(payload []byte) bool
	// nonReference tells a packet of a frame no other frame is predicted
	// from (rtpvp8.NonReference: VP8's N bit); nil for a codec without.
	nonReference func(payload []byte) bool
	// wt is the session of a participant publishing over WebTransport
	// (no SRTP contexts nor repairers then); nil for an SRTP sender.
	wt *wtLink

	mu      sync.Mutex
	addr    net.Addr
	last    time.Time
	lastPLI time.Time
	stats   map[uint32]*protocol.ReceiverStats
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

// touch notes a packet of a WebTransport publisher, whose address is its
// session's.
func (p *publisher) touch(now time.Time) {
	p.mu.Lock()
	p.last = now
	p.mu.Unlock()
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
	s.Update(seq, ts, now)
	return s.Jitter.Duration()
}

// jitter returns the interarrival jitter of ssrc (RFC 3550 A.8).
func (p *publisher) jitter(ssrc uint32) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.stats[ssrc]; s != nil {
		return s.Jitter.Duration()
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
		s.SenderReport(ntp, now)
	}
}

// receiverReport builds an RTCP receiver report (RFC 3550 §6.4.2) with a
// block per track that has received packets (protocol.ReceiverStats).
func (p *publisher) receiverReport(now time.Time) []rtcp.Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	rr := &rtcp.ReceiverReport{SSRC: p.relaySSRC}
	for ssrc, s := range p.stats {
		if !s.Received() {
			continue
		}
		b := s.Report(now)
		rr.Reports = append(rr.Reports, rtcp.ReceptionReport{SSRC: ssrc, FractionLost: b.FractionLost, TotalLost: b.TotalLost,
			LastSequenceNumber: b.ExtendedHighestSeq, Jitter: b.Jitter, LastSenderReport: b.LastSenderReport, Delay: b.Delay})
	}
	return []rtcp.Packet{rr}
}
