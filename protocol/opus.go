package protocol

import "errors"

var errOpusPacket = errors.New("protocol: bad Opus packet")

// opusFrame48k is the duration of one Opus frame in samples at 48 kHz for
// each configuration number (the TOC byte's top five bits, RFC 6716 §3.1
// Table 2): SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
var opusFrame48k = [32]int{
	480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB, MB, WB
	480, 960, 480, 960, // hybrid SWB, FB
	120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT NB, WB, SWB, FB
}

// OpusSamples returns how many samples per channel Opus packet p decodes to
// at 48 kHz, from its TOC byte and, for code 3, its frame count byte
// (RFC 6716 §3.1–3.2.5): what a decoder gives back for it, lost or not
// (a DTX packet of the TOC byte alone still stands for its frames'
// time). It fails on an empty packet, a code 3 packet without its count
// byte, no frames, or more than 120 ms (RFC 6716 §3.4 R1, R5).
func OpusSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errOpusPacket
	}
	frame := opusFrame48k[p[0]>>3]
	frames := 1
	switch p[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, errOpusPacket
		}
		frames = int(p[1] & 0x3f)
	}
	if frames == 0 || frames*frame > 5760 {
		return 0, errOpusPacket
	}
	return frames * frame, nil
}

// MaxOpusMerge is the most sound OpusMerge puts in one packet, in samples
// at 48 kHz: 60 ms, half of what a packet may hold (RFC 6716 §3.4 R5).
const MaxOpusMerge = 2880

// OpusMergeable reports whether Opus packet p may follow first in one
// OpusMerge packet: both code 0 packets (one frame) of one configuration
// and channel count, p's frame within the 1275 bytes a frame may have
// (RFC 6716 §3.2.1). The total length is OpusMerge's to check.
func OpusMergeable(first, p []byte) bool {
	return len(first) > 0 && len(p) > 0 && first[0]&3 == 0 && p[0] == first[0] && len(p)-1 <= 1275
}

// OpusMerge appends to dst one Opus packet carrying the frames of pkts in
// their order: a code 3 packet, variable bitrate (RFC 6716 §3.2.5), which
// a decoder decodes to exactly what it gives for the packets one by one.
// Each of pkts must be a code 0 packet (one frame; a DTX packet of the TOC
// byte alone is an empty frame), all of one configuration and channel
// count, MaxOpusMerge samples at most in all. ok is false, dst unchanged,
// when they are not; one packet is appended as it is.
//
// A player hands a decoder what came in one burst as one chunk: each chunk
// is a round trip through the decoder's thread, which a starved browser
// cannot make a hundred times a second (W3C WebCodecs AudioDecoder).
func OpusMerge(dst []byte, pkts ...[]byte) ([]byte, bool) {
	if len(pkts) == 0 {
		return dst, false
	}
	toc := pkts[0]
	if len(toc) == 0 || toc[0]&3 != 0 {
		return dst, false
	}
	if len(pkts) == 1 {
		return append(dst, pkts[0]...), true
	}
	if len(pkts)*opusFrame48k[toc[0]>>3] > MaxOpusMerge {
		return dst, false
	}
	for _, p := range pkts {
		if !OpusMergeable(toc, p) {
			return dst, false
		}
	}
	// TOC (code 3), frame count byte (VBR, no padding), the lengths of all
	// frames but the last (one byte below 252, else two), the frames.
	dst = append(dst, toc[0]|3, 0x80|byte(len(pkts)))
	for _, p := range pkts[:len(pkts)-1] {
		n := len(p) - 1
		if n < 252 {
			dst = append(dst, byte(n))
		} else {
			first := 252 + n&3
			dst = append(dst, byte(first), byte((n-first)>>2))
		}
	}
	for _, p := range pkts {
		dst = append(dst, p[1:]...)
	}
	return dst, true
}
