package sender

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/rtpvp8"
	"github.com/quicast/quicast/sender/media"
)

// fakeVideo is a video track of 3000-byte frames every 10 ms; a keyframe
// first and after each RequestKeyFrame. Keyframes start with a VP8 frame tag
// whose P bit is 0 (RFC 6386 §9.1).
type fakeVideo struct {
	clk      *media.Clock
	n        int
	keyReq   atomic.Bool
	requests atomic.Int32
	closed   atomic.Bool
}

func (f *fakeVideo) Kind() media.Kind   { return media.KindVideo }
func (f *fakeVideo) Codec() media.Codec { return media.Codec{Name: "VP8", ClockRate: 90000} }
func (f *fakeVideo) Size() (int, int)   { return 64, 48 }
func (f *fakeVideo) Close() error       { f.closed.Store(true); return nil }
func (f *fakeVideo) RequestKeyFrame()   { f.requests.Add(1); f.keyReq.Store(true) }
func (f *fakeVideo) ReadFrame(ctx context.Context) (media.Frame, error) {
	select {
	case <-ctx.Done():
		return media.Frame{}, ctx.Err()
	case <-time.After(10 * time.Millisecond):
	}
	key := f.n == 0 || f.keyReq.Swap(false)
	f.n++
	data := make([]byte, 3000)
	rand.Read(data)
	data[0] |= 1
	if key {
		data[0] &^= 1
	}
	return media.Frame{Data: data, MediaTime: f.clk.Now(), Keyframe: key}, nil
}

// receiver is the far end: it decrypts what the engine sends.
type receiver struct {
	t      *testing.T
	conn   *net.UDPConn
	rx, tx *srtp.Context
	peer   *net.UDPAddr
}

func newReceiver(t *testing.T, profile string) (*receiver, Session) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	prof := srtp.ProtectionProfileAeadAes128Gcm
	if profile == protocol.ProfileAES128CMHMACSHA1_80 {
		prof = srtp.ProtectionProfileAes128CmHmacSha1_80
	}
	kl, _ := prof.KeyLen()
	sl, _ := prof.SaltLen()
	key, salt := make([]byte, kl), make([]byte, sl)
	rand.Read(key)
	rand.Read(salt)
	rx, err := srtp.CreateContext(key, salt, prof)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := srtp.CreateContext(key, salt, prof)
	return &receiver{t: t, conn: conn, rx: rx, tx: tx}, Session{
		Addr: conn.LocalAddr().(*net.UDPAddr), Profile: profile, Key: key, Salt: salt,
		VideoSSRC: 0x1234, VideoPT: 96,
	}
}

// next returns the next RTP packet (decrypted) or RTCP packets, with the
// raw SRTP bytes.
func (r *receiver) next(d time.Duration) (raw []byte, p *rtp.Packet, rt []rtcp.Packet) {
	r.t.Helper()
	buf := make([]byte, 1500)
	r.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		r.t.Fatalf("receiver: %v", err)
	}
	r.peer = from
	raw = buf[:n]
	if protocol.IsRTCP(raw) {
		plain, err := r.rx.DecryptRTCP(nil, raw, nil)
		if err != nil {
			r.t.Fatalf("SRTCP: %v", err)
		}
		if rt, err = rtcp.Unmarshal(plain); err != nil {
			r.t.Fatal(err)
		}
		return raw, nil, rt
	}
	plain, err := r.rx.DecryptRTP(nil, raw, nil)
	if err != nil {
		r.t.Fatalf("SRTP: %v", err)
	}
	p = &rtp.Packet{}
	if err := p.Unmarshal(plain); err != nil {
		r.t.Fatal(err)
	}
	return raw, p, nil
}

func (r *receiver) send(pkts ...rtcp.Packet) {
	b, _ := rtcp.Marshal(pkts)
	enc, err := r.tx.EncryptRTCP(nil, b, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.conn.WriteToUDP(enc, r.peer)
}

func TestEngineSendsSRTP(t *testing.T) {
	for _, profile := range []string{protocol.ProfileAEADAES128GCM, protocol.ProfileAES128CMHMACSHA1_80} {
		t.Run(profile, func(t *testing.T) {
			r, sess := newReceiver(t, profile)
			clk := media.NewClock()
			v := &fakeVideo{clk: clk}
			e, err := Start(context.Background(), sess, clk, v, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()

			var (
				frames, packets int
				lastSeq         uint16
				sr              *rtcp.SenderReport
				firstKey        bool
				sent            = map[uint16][]byte{}
			)
			deadline := time.Now().Add(5 * time.Second)
			for (sr == nil || frames < 20) && time.Now().Before(deadline) {
				raw, p, rt := r.next(2 * time.Second)
				for _, pk := range rt {
					if s, ok := pk.(*rtcp.SenderReport); ok && s.SSRC == sess.VideoSSRC {
						sr = s
					}
				}
				if p == nil {
					continue
				}
				if p.SSRC != sess.VideoSSRC || p.PayloadType != 96 || len(raw) > protocol.MTU {
					t.Fatalf("packet SSRC %x PT %d size %d", p.SSRC, p.PayloadType, len(raw))
				}
				if packets > 0 && p.SequenceNumber != lastSeq+1 {
					t.Errorf("sequence number %d after %d", p.SequenceNumber, lastSeq)
				}
				if packets == 0 {
					firstKey = rtpvp8.KeyframeStart(p.Payload)
				}
				lastSeq = p.SequenceNumber
				sent[p.SequenceNumber] = append([]byte(nil), raw...)
				packets++
				if p.Marker {
					frames++
				}
			}
			if !firstKey {
				t.Error("the first packet is not a keyframe start")
			}
			if sr == nil {
				t.Fatal("no sender report within 5 s")
			}
			if sr.PacketCount == 0 || sr.OctetCount == 0 {
				t.Errorf("sender report %+v", sr)
			}
			// 3000 bytes need 3 packets of at most MTU.
			if packets < 3*frames {
				t.Errorf("%d packets for %d frames", packets, frames)
			}

			// PLI: a keyframe request reaches the source.
			r.send(&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: sess.VideoSSRC})
			// NACK: the stored packet comes back byte for byte.
			var nackSeq uint16
			for s := range sent {
				nackSeq = s
				break
			}
			r.send(&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: sess.VideoSSRC,
				Nacks: []rtcp.NackPair{{PacketID: nackSeq}}})
			gotRetransmit, gotKey := false, false
			for (!gotRetransmit || !gotKey) && time.Now().Before(deadline.Add(5*time.Second)) {
				raw, p, _ := r.next(2 * time.Second)
				if p == nil {
					continue
				}
				if p.SequenceNumber == nackSeq {
					gotRetransmit = bytes.Equal(raw, sent[nackSeq])
				} else if v.requests.Load() > 0 && rtpvp8.KeyframeStart(p.Payload) {
					gotKey = true
				}
			}
			if !gotRetransmit {
				t.Errorf("packet %d not retransmitted after a NACK", nackSeq)
			}
			if !gotKey {
				t.Error("no keyframe after a PLI")
			}
			s := e.Stats()
			if s.Video.PLIs != 1 || s.Video.NACKs != 1 || s.Video.Retransmits != 1 || s.Video.Keyframes < 2 {
				t.Errorf("stats %+v", s.Video)
			}
			// Receiver reports carry loss to the sender.
			r.send(&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: sess.VideoSSRC, FractionLost: 64, TotalLost: 7}}})
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				if e.Stats().Video.CumulativeLost == 7 {
					break
				}
			}
			if s := e.Stats(); s.Video.CumulativeLost != 7 || s.Video.FractionLost != 0.25 {
				t.Errorf("loss from the receiver report: %d, %v", s.Video.CumulativeLost, s.Video.FractionLost)
			}
			if e.Stats().Viewers != -1 {
				t.Errorf("viewers %d before any report, want -1", e.Stats().Viewers)
			}
			r.send(&rtcp.ApplicationDefined{SubType: protocol.AppSubtypeViewers, SSRC: 1, Name: protocol.AppName,
				Data: protocol.AppendViewers(nil, 5)})
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && e.Stats().Viewers != 5; time.Sleep(10 * time.Millisecond) {
			}
			if n := e.Stats().Viewers; n != 5 {
				t.Errorf("viewers %d after a viewer report of 5", n)
			}
			// Garbage RTCP is counted, not fatal.
			r.conn.WriteToUDP(append([]byte{0x80, 200}, make([]byte, 40)...), r.peer)
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && e.Stats().RTCPBad == 0; time.Sleep(10 * time.Millisecond) {
			}
			if e.Stats().RTCPBad != 1 {
				t.Errorf("%d bad RTCP packets counted, want 1", e.Stats().RTCPBad)
			}

			// Close says goodbye and releases the source.
			e.Close()
			gotBye := false
			for !gotBye {
				_, _, rt := r.next(2 * time.Second)
				for _, pk := range rt {
					_, gotBye = pk.(*rtcp.Goodbye)
				}
			}
			if !v.closed.Load() {
				t.Error("the source was not closed")
			}
		})
	}
}

func TestEngineNoticesSilentRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the relay timeout")
	}
	_, sess := newReceiver(t, "")
	sess.ExpectRTCP = true
	clk := media.NewClock()
	e, err := Start(context.Background(), sess, clk, &fakeVideo{clk: clk}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Done():
	case <-time.After(relayTimeout + 5*time.Second):
		t.Fatal("the engine did not notice the silent relay")
	}
	if !errors.Is(e.Err(), ErrRelayGone) {
		t.Errorf("err %v, want ErrRelayGone", e.Err())
	}
}

func TestEngineRejectsBadSession(t *testing.T) {
	_, sess := newReceiver(t, "")
	clk := media.NewClock()
	if _, err := Start(context.Background(), sess, clk, nil, nil, nil); !errors.Is(err, ErrNoTracks) {
		t.Errorf("no tracks: %v", err)
	}
	bad := sess
	bad.Profile = "NULL"
	if _, err := Start(context.Background(), bad, clk, &fakeVideo{clk: clk}, nil, nil); err == nil {
		t.Error("unknown profile accepted")
	}
	bad = sess
	bad.Key = bad.Key[:3]
	if _, err := Start(context.Background(), bad, clk, &fakeVideo{clk: clk}, nil, nil); err == nil {
		t.Error("short key accepted")
	}
}
