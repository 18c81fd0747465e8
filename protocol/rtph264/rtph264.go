// Package rtph264 is the receiving side of H.264 over RTP (RFC 6184,
// packetization mode 1): the keyframe test the relay opens groups with,
// and the reassembler the player feeds its decoder with, in Annex B byte
// stream format. Senders packetize with pion/rtp's H264Payloader (SPS and
// PPS aggregated in a STAP-A before each IDR, large NAL units in FU-A
// fragments). It builds for js/wasm and links neither fmt nor pion/rtp.
package rtph264

import (
	"errors"

	"github.com/quicast/quicast/protocol"
)

// NAL unit types (ITU-T H.264 Table 7-1, RFC 6184 §5.4).
const (
	naluIDR   = 5
	naluSPS   = 7
	naluPPS   = 8
	naluSTAPA = 24
	naluFUA   = 28
)

var errShortPayload = errors.New("rtph264: payload too short")

// KeyframeStart reports whether payload, the payload of an RTP packet
// carrying H.264, begins an access unit a decoder can start from: an SPS
// (alone, or first in a STAP-A) or the start of an IDR slice (alone, or
// the first FU-A fragment).
func KeyframeStart(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case naluSPS, naluIDR:
		return true
	case naluSTAPA:
		return len(payload) >= 4 && payload[3]&0x1f == naluSPS
	case naluFUA:
		return payload[1]&0x80 != 0 && payload[1]&0x1f == naluIDR
	}
	return false
}

// Assembler joins the RTP packets of an H.264 track into access units in
// Annex B format (a 4-byte start code before each NAL unit). Packets come
// in sequence-number order; an access unit ends at the marker bit (RFC 6184
// §5.1). A sequence number that skips means packets were lost for good:
// the access unit is dropped, and so is every one after it until an IDR.
type Assembler struct {
	protocol.FrameLoss
	cur    []byte
	ts     uint32
	active bool
	inFU   bool // inside a FU-A fragmented NAL unit
	key    bool // the access unit holds an IDR slice
}

var startCode = []byte{0, 0, 0, 1}

// Reset drops a partial access unit, at the start of a new group.
func (a *Assembler) Reset() {
	a.cur, a.active, a.inFU, a.key = a.cur[:0], false, false, false
	a.FrameLoss.Reset()
}

// Push adds one RTP packet. It returns a complete access unit when pkt
// ends one; its Data is only valid until the next call. An access unit
// that lost packets, and every one after it until an IDR, is dropped with
// protocol.ErrVideoLoss.
func (a *Assembler) Push(pkt []byte) (protocol.VideoFrame, bool, error) {
	hdr, payload, err := protocol.ParseRTP(pkt)
	if err != nil {
		return protocol.VideoFrame{}, false, protocol.Wrap("rtph264: RTP header", err)
	}
	if len(payload) < 1 {
		return protocol.VideoFrame{}, false, errShortPayload
	}
	a.Packet(hdr.SequenceNumber, a.active)
	if !a.active || hdr.Timestamp != a.ts {
		if a.active && len(a.cur) > 0 {
			a.Unfinished()
		}
		a.cur, a.active, a.ts, a.Broken, a.inFU, a.key = a.cur[:0], true, hdr.Timestamp, false, false, false
	}
	if !a.Broken && a.add(payload) != nil {
		a.Broken = true
	}
	if len(a.cur) > protocol.MaxVideoFrame {
		a.Broken, a.cur = true, a.cur[:0]
	}
	if !hdr.Marker {
		return protocol.VideoFrame{}, false, nil
	}
	a.active = false
	if a.inFU {
		a.Broken = true // the last fragment never came
	}
	return a.End(protocol.VideoFrame{Data: a.cur, Timestamp: a.ts, Keyframe: a.key})
}

// add appends the NAL units of one RTP payload.
func (a *Assembler) add(p []byte) error {
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23: // a single NAL unit
		if a.inFU {
			return errShortPayload // a fragmented unit never ended
		}
		a.nal(p)
	case t == naluSTAPA: // aggregated NAL units, each after a 16-bit size
		if a.inFU {
			return errShortPayload
		}
		for p = p[1:]; len(p) > 0; {
			if len(p) < 2 {
				return errShortPayload
			}
			n := int(p[0])<<8 | int(p[1])
			if n == 0 || len(p) < 2+n {
				return errShortPayload
			}
			a.nal(p[2 : 2+n])
			p = p[2+n:]
		}
	case t == naluFUA: // a fragment: indicator, header (S, E, type), data
		if len(p) < 3 {
			return errShortPayload
		}
		start, end := p[1]&0x80 != 0, p[1]&0x40 != 0
		switch {
		case start && a.inFU, !start && !a.inFU:
			return errShortPayload // a start is missing, or a second one came
		case start:
			a.nal([]byte{p[0]&0xe0 | p[1]&0x1f}) // the unit's header, rebuilt
			a.inFU = true
		}
		a.cur = append(a.cur, p[2:]...)
		if end {
			a.inFU = false
		}
	default: // STAP-B, MTAP, FU-B: not in packetization mode 1
		return errShortPayload
	}
	return nil
}

// nal appends a start code and the NAL unit (or, from a FU-A start, its
// header).
func (a *Assembler) nal(u []byte) {
	if u[0]&0x1f == naluIDR {
		a.key = true
	}
	a.cur = append(append(a.cur, startCode...), u...)
}
