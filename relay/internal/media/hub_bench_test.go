package media

import (
	"context"
	"fmt"
	"math"
	"net"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/quicast/quicast/protocol"
)

// BenchmarkIngest is the relay's per-packet path for one published stream:
// SRTP authentication and decryption (RFC 7714 AEAD_AES_128_GCM), the RTP
// header, the GOP cache and the fan-out into each viewer's bounded queue,
// drained by one goroutine per viewer as the WebTransport writers would.
// One op is one 1200-byte SRTP video packet (a keyframe every 64 packets);
// compare the viewers=N rows of one run for the cost of a viewer.
func BenchmarkIngest(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) { benchIngest(b, n) })
	}
}

func benchIngest(b *testing.B, viewers int) {
	// No rate cap: the benchmark sends as fast as the ingest takes.
	h := NewHub(Config{WriteTo: func(p []byte, _ net.Addr) (int, error) { return len(p), nil }, MaxPublishRate: math.Inf(1)})
	defer h.Close()
	resp, err := h.Publish(context.Background(), "bench", "key", protocol.PublishRequest{
		Video: &protocol.TrackOffer{Codec: "VP8", ClockRate: protocol.ClockRateVideo, Width: 640, Height: 480}})
	if err != nil {
		b.Fatal(err)
	}
	tx, err := srtp.CreateContext(resp.MasterKey, resp.MasterSalt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		b.Fatal(err)
	}
	h.mu.Lock()
	s := h.streams["bench"]
	h.mu.Unlock()
	done := make(chan struct{})
	defer close(done)
	defer func() { // these viewers have no session for Close to end
		s.mu.Lock()
		clear(s.viewers)
		s.mu.Unlock()
	}()
	s.mu.Lock()
	for range viewers {
		v := &viewer{h: h, ctrlQ: make(chan *protocol.Message, controlQueueLen),
			videoQ: make(chan *frame, videoQueueLen), audioQ: make(chan queuedAudio, audioQueueLen)}
		s.viewers[v] = struct{}{}
		go func() {
			for {
				select {
				case <-v.videoQ:
				case <-done:
					return
				}
			}
		}()
	}
	s.mu.Unlock()

	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5004}
	payload := make([]byte, 1200-12-16) // RTP header and GCM tag around it
	const batch = 4096                  // packets encrypted ahead, timer stopped
	pkts := make([][]byte, batch)
	out := make([]byte, maxDatagram)
	var seq uint16
	encrypt := func() {
		for i := range pkts {
			hdr := rtp.Header{Version: 2, PayloadType: protocol.PayloadTypeVP8, SequenceNumber: seq,
				Timestamp: uint32(seq/8) * 3000, SSRC: resp.VideoSSRC, Marker: seq%8 == 7}
			payload[0], payload[1] = 0x00, 0x01 // continuation of an interframe
			if seq%64 == 0 {
				payload[0], payload[1] = 0x10, 0x00 // S=1, PID 0: a keyframe starts
			}
			seq++
			plain, err := hdr.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			pkts[i], err = tx.EncryptRTP(pkts[i][:0], append(plain, payload...), nil)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.SetBytes(1200)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%batch == 0 {
			b.StopTimer()
			encrypt()
			b.StartTimer()
		}
		h.handle(pkts[i%batch], addr, out)
	}
	b.StopTimer()
	if st := h.Stats(); st.DropAuth+st.DropUnknownSSRC+st.DropShort+st.DropFlood != 0 {
		b.Fatalf("packets refused: %+v", st)
	}
}
