package protocol

import (
	"encoding/binary"
	"errors"
	"time"
)

// PacketClass is the kind of a datagram arriving on a port shared by QUIC,
// RTP/RTCP, STUN and DTLS, told apart by its first byte (RFC 7983 §7,
// RFC 9443 §3 for QUIC).
type PacketClass int

const (
	ClassUnknown   PacketClass = iota
	ClassSTUN                  // 0..3
	ClassDTLS                  // 20..63
	ClassQUICShort             // 64..127: QUIC short header (fixed bit set)
	ClassRTP                   // 128..191: RTP or RTCP (version 2)
	ClassQUICLong              // 192..255: QUIC long header
)

// Classify returns the class of a datagram from its first byte.
func Classify(first byte) PacketClass {
	switch {
	case first <= 3:
		return ClassSTUN
	case first >= 20 && first <= 63:
		return ClassDTLS
	case first >= 64 && first <= 127:
		return ClassQUICShort
	case first >= 128 && first <= 191:
		return ClassRTP
	case first >= 192:
		return ClassQUICLong
	}
	return ClassUnknown
}

// IsRTCP reports whether an RTP-class packet is RTCP: with rtcp-mux the
// second byte (RTCP packet type) lies in 192..223 (RFC 5761 §4).
func IsRTCP(pkt []byte) bool {
	return len(pkt) >= 2 && pkt[1] >= 192 && pkt[1] <= 223
}

// ntpEpochOffset is the number of seconds from 1900-01-01 (the NTP era 0
// epoch) to 1970-01-01.
const ntpEpochOffset = 2208988800

// NTPTime converts t to the 64-bit NTP timestamp format of RTCP sender
// reports (RFC 3550 §4): seconds since 1900 in the high 32 bits, fraction in
// the low 32 bits.
func NTPTime(t time.Time) uint64 {
	ns := t.UnixNano()
	secs := uint64(ns/1e9) + ntpEpochOffset
	frac := (uint64(ns%1e9) << 32) / 1e9
	return secs<<32 | frac
}

// RoundTrip is the round-trip time a sender computes from a reception
// report block (RFC 3550 §6.4.1): the arrival time now, minus the report's
// LSR (the middle 32 bits of the NTP time of the sender report it answers)
// and DLSR (how long the receiver held it, in 1/65536 s). LSR and now are
// both the sender's clock and DLSR is a duration, so the two ends' clocks
// need not agree. A negative result is returned as 0.
func RoundTrip(now time.Time, lsr, dlsr uint32) time.Duration {
	d := int32(LSR(NTPTime(now)) - lsr - dlsr)
	if d < 0 {
		return 0
	}
	return ShortDuration(int64(d))
}

// LSR returns the middle 32 bits of a 64-bit NTP timestamp: how a
// reception report names the sender report it answers (RFC 3550 §6.4.1).
func LSR(ntp uint64) uint32 { return uint32(ntp >> 16) }

// ShortDuration converts v, in units of 1/65536 s (the NTP short format of
// DLSR, RFC 3550 §6.4.1), to a time.Duration.
func ShortDuration(v int64) time.Duration { return time.Duration(v * int64(time.Second) >> 16) }

// NTPToTime converts a 64-bit NTP timestamp to a time.Time (era 0).
func NTPToTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - ntpEpochOffset
	ns := (int64(ntp&0xffffffff)*1e9 + 1<<31) >> 32 // rounded to the nearest ns
	return time.Unix(secs, ns)
}

// RTPClock maps the RTP timestamps of one track to the sender's wall clock,
// from the latest sender report (RFC 3550 §6.4.1). The zero value has no
// mapping.
type RTPClock struct {
	ClockRate uint32 // Hz
	ntp       time.Time
	rtp       uint32
	ok        bool
}

// Update records a sender report: the sender's wall clock was ntp when the
// track's RTP clock read rtp.
func (c *RTPClock) Update(ntp uint64, rtp uint32) {
	c.ntp, c.rtp, c.ok = NTPToTime(ntp), rtp, true
}

// Synced reports whether a sender report has been seen.
func (c *RTPClock) Synced() bool { return c.ok }

// WallTime returns the sender's wall-clock instant of RTP timestamp ts. The
// difference ts - rtp is taken modulo 2^32 as a signed 32-bit value, so
// timestamps up to 2^31 ticks either side of the report map correctly across
// wrap-around. It returns the zero Time before the first report.
func (c *RTPClock) WallTime(ts uint32) time.Time {
	if !c.ok || c.ClockRate == 0 {
		return time.Time{}
	}
	d := int64(int32(ts - c.rtp))
	return c.ntp.Add(time.Duration(d * int64(time.Second) / int64(c.ClockRate)))
}

// RTPHeader is the part of an RTP fixed header (RFC 3550 §5.1) a receiver
// acts on.
type RTPHeader struct {
	Marker         bool
	PayloadType    uint8
	SequenceNumber uint16
	Timestamp      uint32
	SSRC           uint32
}

var errRTP = errors.New("protocol: not an RTP packet")

// AppendRTP appends an RTP packet (RFC 3550 §5.1: version 2, no padding,
// extension nor CSRCs) of h and payload to b. It is the browser
// participant's marshaller, for the same reason as ParseRTP.
func AppendRTP(b []byte, h RTPHeader, payload []byte) []byte {
	m := h.PayloadType & 0x7f
	if h.Marker {
		m |= 0x80
	}
	b = append(b, 0x80, m)
	b = binary.BigEndian.AppendUint16(b, h.SequenceNumber)
	b = binary.BigEndian.AppendUint32(b, h.Timestamp)
	b = binary.BigEndian.AppendUint32(b, h.SSRC)
	return append(b, payload...)
}

// ParseRTP parses the RTP packet pkt: its header, and the payload without
// CSRCs, header extension (RFC 3550 §5.3.1, RFC 8285) and padding. The
// payload aliases pkt. It is the receivers' parser (the viewer's, which
// keeps pion/rtp out of its WebAssembly); senders marshal with pion/rtp.
func ParseRTP(pkt []byte) (h RTPHeader, payload []byte, err error) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return h, nil, errRTP
	}
	n := 12 + 4*int(pkt[0]&0x0f) // CSRCs
	if pkt[0]&0x10 != 0 {        // extension: profile, length in 32-bit words
		if len(pkt) < n+4 {
			return h, nil, errRTP
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:n+4]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > n { // padding: its count in the last byte
		pad := int(pkt[end-1])
		if pad == 0 || end-pad < n {
			return h, nil, errRTP
		}
		end -= pad
	}
	if n > end {
		return h, nil, errRTP
	}
	h = RTPHeader{Marker: pkt[1]&0x80 != 0, PayloadType: pkt[1] & 0x7f,
		SequenceNumber: binary.BigEndian.Uint16(pkt[2:4]), Timestamp: binary.BigEndian.Uint32(pkt[4:8]),
		SSRC: binary.BigEndian.Uint32(pkt[8:12])}
	return h, pkt[n:end], nil
}
