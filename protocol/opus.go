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
