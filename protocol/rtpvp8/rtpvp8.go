// Package rtpvp8 is quicast's one home of VP8 over RTP (RFC 7741): the
// packetizer the sender uses, the payload descriptor parser the relay uses
// to find the keyframes that open groups, and the reassembler the player
// uses. It builds for js/wasm.
//
// Every packet quicast sends carries the 6-byte descriptor with a 15-bit
// picture ID (X=1, I=1, M=1), so a receiver can tell a lost frame, and
// the frame's temporal layer (L=1, T=1: TL0PICIDX and TID; the N bit on a
// non-reference frame, PacketizeFrame); the
// parser and the reassembler accept every descriptor RFC 7741 allows. The
// package links neither fmt nor pion/rtp: the viewer's WebAssembly carries
// it.
package rtpvp8

import (
	"errors"

	"github.com/quicast/quicast/protocol"
)

// DescriptorSize is the payload descriptor the Packetizer writes.
const DescriptorSize = 6

// Packetizer splits VP8 frames into RTP payloads. The zero value starts at
// picture ID 0.
//
// pion/rtp's VP8Payloader writes the same descriptor, but importing it
// would link pion/rtp — with its fmt and crypto/rand, ~150 KB gzipped — into
// the viewer's WebAssembly, which links this package for the reassembler;
// and it cuts full packets and a short tail, where equal packets pace
// better.
type Packetizer struct {
	pictureID uint16
	tl0       uint8 // TL0PICIDX: counts the reference (base-layer) frames
}

// Packetize splits frame into payloads of at most maxPayload bytes
// (descriptor included), all of nearly the same size. It returns nil when
// maxPayload leaves no room for data or frame is empty.
func (p *Packetizer) Packetize(frame []byte, maxPayload int) [][]byte {
	return p.PacketizeFrame(frame, maxPayload, false)
}

// PacketizeFrame is Packetize for a frame that may be a non-reference
// frame: one no other frame is predicted from (libvpx's droppable frame,
// a WebCodecs L1T2 encoder's temporal layer 1). The frames make two
// temporal layers (RFC 7741 §4.2): reference frames the base (TID 0, each
// a TL0PICIDX one more than the last), non-reference frames the upper
// one (TID 1, Y set, the N bit, the TL0PICIDX of the base frame they are
// predicted from). A receiver that falls behind may leave an upper-layer
// frame undecoded, and one lost on the way costs no keyframe
// (protocol.FrameLoss.EndLayer).
func (p *Packetizer) PacketizeFrame(frame []byte, maxPayload int, nonReference bool) [][]byte {
	room := maxPayload - DescriptorSize
	if room <= 0 || len(frame) == 0 {
		return nil
	}
	var tid byte // TID, Y, KEYIDX
	if nonReference {
		tid = 1<<6 | 1<<5
	} else {
		p.tl0++
	}
	n := (len(frame) + room - 1) / room
	size := (len(frame) + n - 1) / n
	pid := p.pictureID & 0x7fff
	out := make([][]byte, 0, n)
	buf := make([]byte, len(frame)+n*DescriptorSize) // one allocation for all payloads
	for i := 0; len(frame) > 0; i++ {
		k := min(size, len(frame))
		pl := buf[: DescriptorSize+k : DescriptorSize+k]
		buf = buf[DescriptorSize+k:]
		pl[0] = 0x80 // X
		if nonReference {
			pl[0] |= 0x20 // N
		}
		if i == 0 {
			pl[0] |= 0x10 // S, partition 0
		}
		pl[1] = 0x80 | 0x40 | 0x20  // I, L, T
		pl[2] = 0x80 | byte(pid>>8) // M: 15-bit picture ID
		pl[3] = byte(pid)
		pl[4] = p.tl0
		pl[5] = tid
		copy(pl[DescriptorSize:], frame[:k])
		out = append(out, pl)
		frame = frame[k:]
	}
	p.pictureID++
	return out
}

// KeyframeStart reports whether payload, the payload of an RTP packet
// carrying VP8 (RFC 7741), begins a keyframe: the payload descriptor has the
// S bit set with partition index 0, and the P bit of the VP8 payload header
// (RFC 6386 §9.1) is 0.
//
//	 0 1 2 3 4 5 6 7
//	+-+-+-+-+-+-+-+-+
//	|X|R|N|S|R| PID | (REQUIRED)
//	+-+-+-+-+-+-+-+-+
//	|I|L|T|K| RSV   | (OPTIONAL, if X)
//	|M| PictureID   | (OPTIONAL, if I; 15 bits if M)
//	|   TL0PICIDX   | (OPTIONAL, if L)
//	|TID|Y| KEYIDX  | (OPTIONAL, if T or K)
func KeyframeStart(payload []byte) bool {
	n, ok := DescriptorLen(payload)
	if !ok || payload[0]&0x10 == 0 || payload[0]&0x07 != 0 {
		return false
	}
	return len(payload) > n && payload[n]&0x01 == 0
}

// NonReference reports whether payload, the payload of an RTP packet
// carrying VP8, has the N bit of its descriptor set (RFC 7741 §4.2): its
// frame is not a reference for any other.
func NonReference(payload []byte) bool { return len(payload) > 0 && payload[0]&0x20 != 0 }

// DescriptorLen returns the length in bytes of the VP8 payload
// descriptor (RFC 7741 §4.2) at the start of payload, and false when payload
// is too short to hold it.
func DescriptorLen(payload []byte) (int, bool) {
	d, ok := parseDescriptor(payload)
	return d.len, ok
}

// descriptor is what the reassembler reads of a payload descriptor.
type descriptor struct {
	len    int
	layers bool  // TL0PICIDX and TID present (L and T)
	tl0    uint8 // TL0PICIDX
	tid    uint8 // TID
}

func parseDescriptor(payload []byte) (descriptor, bool) {
	if len(payload) < 1 {
		return descriptor{}, false
	}
	var d descriptor
	i := 1
	if payload[0]&0x80 != 0 {
		if len(payload) < 2 {
			return descriptor{}, false
		}
		x := payload[1]
		i++
		if x&0x80 != 0 {
			if len(payload) <= i {
				return descriptor{}, false
			}
			if payload[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 {
			if len(payload) > i {
				d.tl0 = payload[i]
			}
			i++
		}
		if x&0x30 != 0 {
			if len(payload) > i {
				d.tid = payload[i] >> 6
			}
			i++
		}
		d.layers = x&0x40 != 0 && x&0x20 != 0
	}
	if i > len(payload) {
		return descriptor{}, false
	}
	d.len = i
	return d, true
}

// Frame is one reassembled VP8 frame.
type Frame = protocol.VideoFrame

var errShortPayload = errors.New("rtpvp8: VP8 payload too short")

// Assembler joins the RTP packets of a video group into VP8 frames
// (RFC 7741 §4). Packets come in sequence-number order on a group stream
// (the relay repairs and reorders its ingest); a frame ends at the marker
// bit. A sequence number that skips means packets were lost for good: the
// frame they belonged to is dropped, and so is every delta frame after it
// until a keyframe, since they would be decoded against a picture the
// decoder never had.
type Assembler struct {
	protocol.FrameLoss
	cur    []byte
	ts     uint32
	active bool
	nonRef bool       // the frame's first packet had the N bit
	layer  descriptor // the temporal layer its packets say it is in
}

// MaxFrameBytes bounds a reassembled frame; a larger one is dropped as
// broken.
const MaxFrameBytes = protocol.MaxVideoFrame

// ErrLoss is returned for a complete frame that cannot be decoded because
// packets were lost in it or before it (protocol.ErrVideoLoss).
var ErrLoss = protocol.ErrVideoLoss

// Reset drops a partial frame, at the start of a new group.
func (a *Assembler) Reset() {
	a.cur, a.active = a.cur[:0], false
	a.FrameLoss.Reset()
}

// Push adds one RTP packet. It returns a complete frame when pkt ends one;
// the frame's Data is only valid until the next call. A frame that lost
// packets, and every delta frame after it until a keyframe, is dropped
// with ErrLoss — unless the packets say their temporal layers: then only
// the loss of a base-layer frame is (protocol.FrameLoss.EndLayer), and an
// upper-layer frame lost is dropped with no error.
func (a *Assembler) Push(pkt []byte) (Frame, bool, error) {
	hdr, payload, err := protocol.ParseRTP(pkt)
	if err != nil {
		return Frame{}, false, protocol.Wrap("rtpvp8: RTP header", err)
	}
	desc, ok := parseDescriptor(payload)
	if !ok {
		return Frame{}, false, errShortPayload
	}
	d := desc.len
	a.Packet(hdr.SequenceNumber, a.active)
	start := payload[0]&0x10 != 0 && payload[0]&0x07 == 0
	if start || !a.active || hdr.Timestamp != a.ts {
		if !start {
			a.Broken = true // a continuation without its start: the start was lost
		}
		if start {
			if a.active && len(a.cur) > 0 {
				a.Unfinished()
			}
			a.cur, a.Broken = a.cur[:0], false
			a.nonRef = NonReference(payload)
		}
		a.active, a.ts = true, hdr.Timestamp
		a.layer = desc // every packet of ours carries it: a frame whose start was lost still says its layer
	}
	if len(a.cur)+len(payload)-d > MaxFrameBytes {
		a.Broken = true
		a.cur = a.cur[:0]
	}
	if !a.Broken {
		a.cur = append(a.cur, payload[d:]...)
	}
	if !hdr.Marker {
		return Frame{}, false, nil
	}
	a.active = false
	key := len(a.cur) > 0 && a.cur[0]&0x01 == 0
	f := Frame{Data: a.cur, Timestamp: a.ts, Keyframe: key, NonReference: a.nonRef && !key}
	if a.layer.layers {
		return a.EndLayer(f, a.layer.tl0, a.layer.tid)
	}
	return a.End(f)
}
