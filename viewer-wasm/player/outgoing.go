package player

import (
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtpvp8"
)

// Outgoing turns what a browser participant's WebCodecs encoders output
// into RTP packets (RFC 3550; VP8 per RFC 7741, Opus per RFC 7587) and
// sender reports, with the SSRCs and payload types of the relay's catalog
// (protocol README §4.2).
//
// Timestamps: WebCodecs chunks carry a timestamp in µs (W3C WebCodecs
// §EncodedVideoChunk.timestamp); RTP timestamps are those µs on the track's
// clock (90 kHz, 48 kHz) from a random base. Sender reports need the wall
// clock of an RTP timestamp: Captured records, for each chunk as the
// encoder outputs it, the wall clock it came out at, and the smallest
// difference over the last windows is taken as the track's
// timestamp-to-wall offset (the least-delayed chunk is the closest to its
// capture). The encoder's output is measured, not the camera's frames: an
// audio encoder stamps its chunks by the samples it was given, which drift
// from the capture clock when the microphone delivers late (Chromium's
// fake microphone on a loaded machine: 1.6 s of audio in 2 s), and the
// offset must be the chunks'. Both tracks measured the same way, the
// viewer's lip-sync is as good as their encoding delays agree.
type Outgoing struct {
	Video, Audio OutTrack
}

// OutTrack is one outgoing track. Set SSRC, PayloadType and ClockRate from
// the catalog, and Base (a random RTP timestamp offset) before use.
type OutTrack struct {
	SSRC        uint32
	PayloadType uint8
	ClockRate   uint32
	Base        uint32
	seq         uint16
	vp8         rtpvp8.Packetizer

	Packets, Octets uint32 // sent, for the sender report

	// wall − capture: the smallest of the current window and of the one
	// before it.
	cur, prev         time.Duration
	haveCur, havePrev bool
	window            time.Time // when the current window began
	lastTS            int64     // µs, the newest chunk's capture time
}

// offsetWindow is how long the smallest capture-to-wall difference is
// looked for in one window; the offset is the smallest of the last two
// windows, so a clock that moves is followed within two windows.
const offsetWindow = 500 * time.Millisecond

// SetSequence sets the first sequence number (random, RFC 3550 §5.1).
func (t *OutTrack) SetSequence(seq uint16) { t.seq = seq }

func (t *OutTrack) rtpTime(us int64) uint32 {
	return t.Base + uint32(us*int64(t.ClockRate)/1e6)
}

// Captured records that the chunk with timestamp us (µs) came out of the
// encoder at wall.
func (t *OutTrack) Captured(us int64, wall time.Time) {
	d := wall.Sub(time.UnixMicro(us))
	if t.window.IsZero() {
		t.window = wall
	}
	if wall.Sub(t.window) >= offsetWindow && t.haveCur {
		t.prev, t.havePrev, t.haveCur, t.window = t.cur, true, false, wall
	}
	if !t.haveCur || d < t.cur {
		t.cur, t.haveCur = d, true
	}
}

// offset returns the capture-to-wall offset; false before any capture.
func (t *OutTrack) offset() (time.Duration, bool) {
	switch {
	case t.haveCur && t.havePrev:
		return min(t.cur, t.prev), true
	case t.haveCur:
		return t.cur, true
	}
	return t.prev, t.havePrev
}

// VP8 packetizes one encoded VP8 frame of capture time us into RTP packets
// of at most mtu bytes, the last with the marker bit; nonRef marks a frame
// no other is predicted from (RFC 7741 N bit).
func (t *OutTrack) VP8(frame []byte, us int64, mtu int, nonRef bool) [][]byte {
	payloads := t.vp8.PacketizeFrame(frame, mtu-12, nonRef)
	out := make([][]byte, len(payloads))
	ts := t.rtpTime(us)
	for i, pl := range payloads {
		out[i] = t.packet(pl, ts, i == len(payloads)-1)
	}
	t.lastTS = us
	return out
}

// Opus makes the RTP packet of one Opus packet of capture time us.
func (t *OutTrack) Opus(payload []byte, us int64) []byte {
	t.lastTS = us
	return t.packet(payload, t.rtpTime(us), false)
}

func (t *OutTrack) packet(payload []byte, ts uint32, marker bool) []byte {
	pkt := protocol.AppendRTP(make([]byte, 0, 12+len(payload)), protocol.RTPHeader{Marker: marker,
		PayloadType: t.PayloadType, SequenceNumber: t.seq, Timestamp: ts, SSRC: t.SSRC}, payload)
	t.seq++
	t.Packets++
	t.Octets += uint32(len(payload))
	return pkt
}

// Sync returns the track's sender report (RFC 3550 §6.4.1): the wall clock
// of the newest chunk's capture and its RTP timestamp; false before a
// chunk was sent and its capture seen.
func (t *OutTrack) Sync() (protocol.SyncReport, bool) {
	off, ok := t.offset()
	if !ok || t.Packets == 0 {
		return protocol.SyncReport{}, false
	}
	wall := time.UnixMicro(t.lastTS).Add(off)
	return protocol.SyncReport{SSRC: t.SSRC, NTPTime: protocol.NTPTime(wall), RTPTime: t.rtpTime(t.lastTS),
		Packets: t.Packets, Octets: t.Octets}, true
}
