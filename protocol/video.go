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
