package media

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quicast/quicast/protocol"
)

// A viewer whose connection takes no datagram for longer than maxAudioLag
// (congested, or a browser too busy to read) gets none of the audio that
// waited that long: when the connection frees up, the sound goes on from
// the present instead of from a backlog.
func TestViewerAudioDropsWhatWaitedTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &Hub{}
		sent := make(chan []byte, 16)
		free := make(chan struct{})
		v := &viewer{h: h, audioQ: make(chan queuedAudio, audioQueueLen), send: func(d []byte) error {
			<-free // the connection takes it when free says so
			sent <- bytes.Clone(d)
			return nil
		}}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go v.audioLoop(ctx)
		pkt := func(seq byte) []byte { return append([]byte{0x80, 111, 0, seq}, make([]byte, 20)...) }

		v.audio(pkt(1), time.Now()) // taken at once, its datagram held up
		synctest.Wait()
		stale := time.Now().Add(-maxAudioLag - time.Millisecond) // fanned out that long ago
		v.audio(pkt(2), stale)
		v.audio(pkt(3), stale)
		v.audio(pkt(4), time.Now())
		v.audio(pkt(5), time.Now())
		close(free)
		synctest.Wait()
		close(sent)

		var got [][]byte
		for d := range sent {
			if err := protocol.SplitDatagram(d, func(p []byte) { got = append(got, bytes.Clone(p)) }); err != nil {
				t.Fatalf("datagram % x: %v", d, err)
			}
		}
		var seqs []byte
		for _, p := range got {
			seqs = append(seqs, p[3])
		}
		if !bytes.Equal(seqs, []byte{1, 4, 5}) {
			t.Errorf("sent packets %v, want [1 4 5]: 2 and 3 waited more than %v", seqs, maxAudioLag)
		}
		if n, m := v.audioLate.Load(), h.Stats().AudioLate; n != 2 || m != 2 {
			t.Errorf("counted %d late (hub %d), want 2", n, m)
		}
	})
}
