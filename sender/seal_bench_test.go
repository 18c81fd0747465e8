package sender

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtpvp8"
)

// BenchmarkPacketizeSeal: one encoded VP8 frame to SRTP packets, as the
// sender's track loop does it (RFC 7741 packetization, RTP header, SRTP
// with each profile), per frame: a 720p keyframe (~60 kB) and a delta
// frame (~4 kB) at 1 Mbit/s.
func BenchmarkPacketizeSeal(b *testing.B) {
	for _, prof := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		for _, size := range []int{60_000, 4_000} {
			b.Run(fmt.Sprintf("%s/frame=%dB", prof, size), func(b *testing.B) {
				keyLen, _ := prof.KeyLen()
				saltLen, _ := prof.SaltLen()
				key, salt := make([]byte, keyLen), make([]byte, saltLen)
				rand.Read(key)
				rand.Read(salt)
				tx, err := srtp.CreateContext(key, salt, prof)
				if err != nil {
					b.Fatal(err)
				}
				l := &link{prof: prof, tx: tx}
				o := &outStream{ssrc: 0x1234, pt: protocol.PayloadTypeVP8}
				frame := make([]byte, size)
				rand.Read(frame)
				frame[0] = 0x10 // a VP8 keyframe's first byte: the P bit clear
				var p rtpvp8.Packetizer
				raw := make([]byte, 0, protocol.MTU)
				out := make([]byte, 0, protocol.MTU+32)
				maxPayload := protocol.MTU - 12 - srtpOverhead(prof)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					payloads := p.Packetize(frame, maxPayload)
					for i, pl := range payloads {
						var enc []byte
						if enc, raw, _, err = l.seal(o, 90000, i == len(payloads)-1, pl, raw, out); err != nil {
							b.Fatal(err)
						}
						out = enc
					}
				}
				var h rtp.Header
				if _, err := h.Unmarshal(out); err != nil || h.SSRC != 0x1234 {
					b.Fatalf("last packet: %+v %v", h, err)
				}
			})
		}
	}
}
