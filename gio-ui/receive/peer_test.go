package receive

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/quicast/quicast/gio-ui/broadcast"
	"github.com/quicast/quicast/sender/media"
	"github.com/quicast/quicast/sender/peercall"
)

// side is one desktop of a direct call: its UDP socket and what it sends.
type side struct {
	name string
	udp  *net.UDPConn
	call *peercall.Call
	bc   *broadcast.Broadcast
	rc   *Receiver
}

// TestDirectCall: two desktops call each other on the LAN without a
// relay, as the window does: bob listens with a code, alice dials it; bob
// answers; each sends its test picture and tone straight to the other
// (SRTP over UDP, the sender engine in peer mode) and receives the other's
// (StartPeer): each decodes the other's colour bars and hears its beep.
// Alice hanging up ends bob's call.
func TestDirectCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// The callee's handshake (TCP) and media (UDP) share a port number.
	l, err := peercall.Listen("127.0.0.1:0", "424242")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bob := &side{name: "bob"}
	if bob.udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.Port()}); err != nil {
		t.Fatal(err)
	}
	alice := &side{name: "alice"}
	if alice.udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	aliceMedia := peercall.NewMedia(alice.udp.LocalAddr().(*net.UDPAddr).Port, true, true)
	bobMedia := peercall.NewMedia(l.Port(), true, true)

	dialed := make(chan error, 1)
	go func() {
		var err error
		alice.call, err = peercall.Dial(ctx, l.Addr().String(), "424242", "alice", aliceMedia)
		dialed <- err
	}()
	in, err := l.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "alice" {
		t.Errorf("ringing from %q", in.Name)
	}
	if bob.call, err = in.Answer("bob", bobMedia); err != nil {
		t.Fatal(err)
	}
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}

	for _, s := range []struct {
		*side
		mine peercall.Media
	}{{alice, aliceMedia}, {bob, bobMedia}} {
		sess := s.mine.Session(s.call.RemoteUDP())
		s.bc = broadcast.Start(broadcast.Config{Peer: &sess,
			Video: media.Source{Type: media.SourceTest}, Audio: media.Source{Type: media.SourceTest},
			Options: media.Options{Width: 320, Height: 240, FPS: 15, VideoBitrate: 500_000}})
		defer s.bc.Stop()
		if s.rc, err = StartPeer(ctx, s.udp, s.call.Remote, nil); err != nil {
			t.Fatal(err)
		}
		defer s.rc.Close()
	}

	for _, s := range []*side{alice, bob} {
		frames, barred := 0, 0
		for frames < 15 {
			select {
			case f := <-s.rc.Frames():
				frames++
				if bars(f) >= 6 {
					barred++
				}
			case <-ctx.Done():
				t.Fatalf("%s: %d frames of the other; receiver %+v, sender %+v", s.name, frames, s.rc.Stats(), s.bc.Status())
			}
		}
		if barred < frames/2 {
			t.Errorf("%s: %d of %d frames show the other's colour bars", s.name, barred, frames)
		}
		tick := time.NewTicker(10 * time.Millisecond)
		out := make([]int16, frame10ms*Channels)
		for heard := false; !heard; {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%s: no beep from the other; playout %+v, receiver %+v", s.name, s.rc.Playout().Stats(), s.rc.Stats())
			}
			s.rc.Playout().Read(out)
			heard = beep(out)
		}
		tick.Stop()
		st := s.rc.Stats()
		t.Logf("%s receives the other: %+v", s.name, st)
		if st.DecodeErrors != 0 || st.AudioDecodeErrors != 0 {
			t.Errorf("%s: errors on loopback: %+v", s.name, st)
		}
	}
	// Each side's receiver reports give the other its round trip and
	// loss (RFC 3550 §6.4.1), as a relay's do.
	for _, s := range []*side{alice, bob} {
		tick := time.NewTicker(50 * time.Millisecond)
		for s.bc.Status().Stats.Audio.RTT == 0 || s.bc.Status().Stats.Video.RTT == 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%s: no round trip from the other's receiver reports: %+v", s.name, s.bc.Status().Stats)
			}
		}
		tick.Stop()
		st := s.bc.Status().Stats
		t.Logf("%s: round trip %v (audio) %v (video), loss %.2f, jitter %.1f ms", s.name, st.Audio.RTT, st.Video.RTT, st.Video.FractionLost, st.Audio.JitterMS)
		if st.Audio.RTT > time.Second || st.Video.FractionLost > 0.1 {
			t.Errorf("%s: round trip %v, loss %.2f on loopback", s.name, st.Audio.RTT, st.Video.FractionLost)
		}
	}
	alice.call.Close()
	select {
	case <-bob.call.Done():
	case <-ctx.Done():
		t.Fatal("bob's call did not end when alice hung up")
	}
}
