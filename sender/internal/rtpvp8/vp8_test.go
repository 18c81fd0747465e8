package rtpvp8

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"

	"github.com/quicast/quicast/protocol"
)

func TestEncodeRoundTrip(t *testing.T) {
	key := append([]byte{0x50}, bytes.Repeat([]byte{7}, 3000)...) // P bit 0: keyframe
	var e Encoder
	for frame := 0; frame < 3; frame++ {
		ps := e.Encode(nil, key, 1000)
		if len(ps) != 4 {
			t.Fatalf("frame %d: %d payloads, want 4", frame, len(ps))
		}
		var out []byte
		for i, p := range ps {
			if len(p) > 1000 {
				t.Errorf("payload %d: %d bytes > 1000", i, len(p))
			}
			var d codecs.VP8Packet
			payload, err := d.Unmarshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if d.I != 1 || d.PictureID != uint16(frame) {
				t.Errorf("frame %d payload %d: I=%d picture ID %d", frame, i, d.I, d.PictureID)
			}
			if (d.S == 1) != (i == 0) {
				t.Errorf("payload %d: S=%d", i, d.S)
			}
			if got := protocol.VP8KeyframeStart(p); got != (i == 0) {
				t.Errorf("payload %d: keyframe start = %v", i, got)
			}
			out = append(out, payload...)
		}
		if !bytes.Equal(out, key) {
			t.Errorf("frame %d does not reassemble", frame)
		}
	}
	if ps := e.Encode(nil, key, 4); len(ps) != 0 {
		t.Errorf("no room: %d payloads", len(ps))
	}
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte{0x50, 1, 2, 3}, 100)
	f.Fuzz(func(t *testing.T, frame []byte, mtu int) {
		mtu = mtu%1500 + 1
		var e Encoder
		var out []byte
		for _, p := range e.Encode(nil, frame, mtu) {
			if len(p) > mtu {
				t.Fatalf("payload %d > %d", len(p), mtu)
			}
			out = append(out, p[descriptorSize:]...)
		}
		if mtu > descriptorSize && !bytes.Equal(out, frame) {
			t.Fatal("payloads do not reassemble the frame")
		}
	})
}
