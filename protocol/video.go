package protocol

import "errors"

// VideoFrame is one reassembled video frame (an access unit): VP8 as the
// decoder takes it (RFC 6386), H.264 in Annex B byte stream format
// (ITU-T H.264 Annex B, start codes before each NAL unit), which is what a
// W3C WebCodecs VideoDecoder configured without a description expects.
type VideoFrame struct {
	Data      []byte
	Timestamp uint32 // RTP, 90 kHz
	Keyframe  bool
	// NonReference: no other frame is predicted from this one (VP8's N
	// bit, RFC 7741 §4.2); a receiver behind may leave it undecoded.
	NonReference bool
}

// MaxVideoFrame bounds a reassembled frame, in bytes (a 4K keyframe at high
// quality is well under it); a larger one is dropped as broken.
const MaxVideoFrame = 4 << 20

// ErrVideoLoss is returned by the reassemblers for a complete frame that
// cannot be decoded because packets were lost in it or before it: the
// caller waits for the next keyframe and asks for one.
var ErrVideoLoss = errors.New("protocol: video packets lost: waiting for a keyframe")

// VideoAssembler joins the RTP packets of a video track into frames:
// rtpvp8.Assembler, rtph264.Assembler.
type VideoAssembler interface {
	// Push adds one RTP packet and returns a complete frame when pkt ends
	// one (valid until the next call); a frame that lost packets, and
	// every delta frame after it until a keyframe, gives ErrVideoLoss.
	Push(pkt []byte) (VideoFrame, bool, error)
	// Reset drops a partial frame, at the start of a new group.
	Reset()
}

// FrameLoss is what both video reassemblers keep about loss: packets come
// in sequence-number order, so a sequence number that skips means packets
// were lost for good. The frame in progress is then Broken, and every
// delta frame after it is undecodable until a keyframe. The zero value is
// ready; Reset at a group start.
type FrameLoss struct {
	lastSeq uint16
	haveSeq bool
	lost    bool // a packet was lost since the last frame delivered
	// Broken marks the frame in progress as undeliverable (a packet of
	// it is missing, it is malformed or too large).
	Broken bool
	// FramesBroken counts frames dropped for loss.
	FramesBroken uint64

	// Temporal layers (EndLayer): the TL0PICIDX of the last base-layer
	// frame delivered, and whether every base-layer frame since the last
	// keyframe was.
	base  uint8
	chain bool
}

// Reset forgets the sequence number and the frame in progress (a new
// group); a loss before it still waits for a keyframe.
func (l *FrameLoss) Reset() { l.haveSeq, l.Broken = false, false }

// Packet notes sequence number seq; inFrame says whether a frame was in
// progress when it came.
func (l *FrameLoss) Packet(seq uint16, inFrame bool) {
	if l.haveSeq && seq != l.lastSeq+1 {
		l.lost = true
		if inFrame {
			l.Broken = true
		}
	}
	l.lastSeq, l.haveSeq = seq, true
}

// Unfinished counts a frame that never got its marker.
func (l *FrameLoss) Unfinished() {
	l.FramesBroken++
	l.lost = true
}

// End decides at a frame's marker: f goes to the decoder, or the frame is
// dropped with ErrVideoLoss when it is Broken or empty, or a delta frame
// after a loss. Broken is cleared for the next frame.
func (l *FrameLoss) End(f VideoFrame) (VideoFrame, bool, error) {
	if l.Broken || len(f.Data) == 0 {
		l.FramesBroken++
		l.Broken, l.lost = false, true
		return VideoFrame{}, false, ErrVideoLoss
	}
	if l.lost && !f.Keyframe {
		l.FramesBroken++
		return VideoFrame{}, false, ErrVideoLoss
	}
	l.lost = false
	return f, true, nil
}

// EndLayer is End for a frame that says where it stands in two temporal
// layers (RFC 7741 §4.2: TL0PICIDX tl0 and TID tid, as quicast's VP8
// packets do): a frame of the upper layer (tid > 0) is a reference for no
// other, so losing one harms nothing — it is dropped with no error, not
// ErrVideoLoss — and after a loss the next frames decode as long as every
// base-layer frame since the keyframe came: an upper-layer frame of the
// last base frame delivered (tl0 equal), a base frame right after it (tl0
// one more). Otherwise, as End: ErrVideoLoss until a keyframe.
func (l *FrameLoss) EndLayer(f VideoFrame, tl0, tid uint8) (VideoFrame, bool, error) {
	broken := l.Broken || len(f.Data) == 0
	l.Broken = false
	switch {
	case broken:
		l.FramesBroken++
		l.lost = true
		if tid > 0 {
			return VideoFrame{}, false, nil
		}
		l.chain = false
		return VideoFrame{}, false, ErrVideoLoss
	case f.Keyframe:
		l.chain, l.base, l.lost = true, tl0, false
		return f, true, nil
	case l.lost && !(l.chain && (tid > 0 && tl0 == l.base || tid == 0 && tl0 == l.base+1)):
		l.FramesBroken++
		l.chain = false
		return VideoFrame{}, false, ErrVideoLoss
	}
	l.lost = false
	if tid == 0 {
		l.base = tl0
	}
	return f, true, nil
}
