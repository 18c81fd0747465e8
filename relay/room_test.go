package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/protocol/watch"
)

// client logs user in on r with the watch client.
func (r *testRelay) client(t *testing.T, user, password string) *watch.Client {
	t.Helper()
	c := watch.NewClient(watch.Config{Relay: "https://" + r.addr, TLS: &tls.Config{RootCAs: r.caPool}})
	if err := c.Login(t.Context(), user, password); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoomOverWebTransport: a participant publishes into a room over
// WebTransport, as the browser does; another logged-in user finds them in
// the room and watches their stream as any stream: catalog, sender
// reports, a video group asked for with a keyframe request, audio
// datagrams; the participant leaving ends the watcher's broadcast.
func TestRoomOverWebTransport(t *testing.T) {
	r := startRelay(t)
	if err := r.st.AddRoom("team"); err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddUser("bob", "password of bob"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	alice, bob := r.client(t, "u", "password of u"), r.client(t, "bob", "password of bob")
	if _, err := bob.Join(ctx, "nope"); !errors.Is(err, watch.ErrNoRoom) {
		t.Fatalf("join an unknown room: %v, want ErrNoRoom", err)
	}
	j, err := alice.Join(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := alice.Publish(ctx, j.URL, []protocol.TrackInfo{
		{Kind: "video", Codec: "VP8", Width: 320, Height: 240}, {Kind: "audio", Codec: "opus", Channels: 1}}, "room test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	video, _ := pub.Track("video")
	audio, ok := pub.Track("audio")
	if !ok || video.SSRC == 0 || video.Codec != protocol.WebCodecsVP8 || audio.Channels != 1 {
		t.Fatalf("catalog %+v", pub.Tracks)
	}
	// A second session with the same join ticket is refused.
	if _, err := alice.Publish(ctx, j.URL, pub.Tracks, "replay"); err == nil {
		t.Fatal("a join ticket opened a second session")
	}

	info, err := bob.Room(ctx, "team")
	if err != nil || len(info.Participants) != 1 || info.Participants[0].User != "u" || info.Participants[0].Stream != j.Stream {
		t.Fatalf("room team: %+v, %v", info, err)
	}
	sess, err := bob.Dial(ctx, j.Stream, "room test")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	msgs := make(chan *protocol.Message, 64)
	go func() {
		defer close(msgs)
		for {
			m, err := sess.ReadControl()
			if err != nil {
				return
			}
			msgs <- m
		}
	}()
	next := func(typ string) *protocol.Message {
		t.Helper()
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("control stream closed waiting for %s", typ)
				}
				if m.Type == typ {
					return m
				}
			case <-ctx.Done():
				t.Fatalf("no %s", typ)
			}
		}
	}
	if cat := next(protocol.MsgCatalog); !slices.Equal(cat.Tracks, pub.Tracks) {
		t.Errorf("watcher's catalog %+v, publisher's %+v", cat.Tracks, pub.Tracks)
	}

	// The watcher asks for a keyframe; the participant hears of it.
	if err := sess.WriteControl(&protocol.Message{Type: protocol.MsgKeyframe}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := pub.ReadControl()
		if err != nil {
			t.Fatalf("publisher's control stream: %v", err)
		}
		if m.Type == protocol.MsgKeyframe {
			break
		}
	}
	if err := pub.WriteSync(protocol.SyncReport{SSRC: audio.SSRC, NTPTime: 1 << 40, RTPTime: 4800}); err != nil {
		t.Fatal(err)
	}
	if m := next(protocol.MsgSync); m.Sync.SSRC != audio.SSRC || m.Sync.RTPTime != 4800 {
		t.Errorf("sender report %+v", m.Sync)
	}
	var sent [][]byte
	for i := range 3 {
		body := []byte{0x00, 0x50, 0, byte(i)} // the first packet's S bit, a keyframe's P bit 0
		if i == 0 {
			body[0] = 0x10
		}
		raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: video.PayloadType, SequenceNumber: uint16(100 + i),
			Timestamp: 9000, SSRC: video.SSRC, Marker: i == 2}, Payload: append(body, make([]byte, 300)...)}).Marshal()
		sent = append(sent, raw)
	}
	if err := pub.WriteVideo(video.SSRC, true, sent); err != nil {
		t.Fatal(err)
	}
	g, err := sess.AcceptGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := protocol.NewGroupReader(g)
	if err != nil || gr.Header().SSRC != video.SSRC {
		t.Fatalf("group header %+v, %v", gr.Header(), err)
	}
	for i, want := range sent {
		got, err := gr.ReadPacket(nil)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("packet %d: %x, %v; sent %x", i, got, err, want)
		}
	}
	apkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: protocol.PayloadTypeOpus, SequenceNumber: 7,
		Timestamp: 4800, SSRC: audio.SSRC}, Payload: []byte{0xfc, 1, 2, 3}}).Marshal()
	got := make(chan []byte, 16)
	go func() {
		for {
			if _, err := sess.ReadAudio(ctx, func(p []byte) { got <- slices.Clone(p) }); err != nil && !errors.Is(err, watch.ErrBadDatagram) {
				return
			}
		}
	}()
	// Datagrams may be lost: send until one comes through.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		if err := pub.WriteAudio(apkt); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if !slices.Equal(p, apkt) {
				t.Fatalf("audio %x, sent %x", p, apkt)
			}
			break wait
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no audio datagram")
		}
	}

	pub.Close()
	next(protocol.MsgEnded)
	if err := waitUntil(10*time.Second, func() bool {
		info, err := bob.Room(ctx, "team")
		return err == nil && len(info.Participants) == 0
	}); err != nil {
		t.Errorf("the participant still listed after leaving: %v", err)
	}
}

// TestCallAPerson: alice calls bob to a room through the relay's
// invitations with the Go client, as the window does: bob's waiting poll
// rings, he answers, and alice sees the answer.
func TestCallAPerson(t *testing.T) {
	r := startRelay(t)
	if err := r.st.AddRoom("team"); err != nil {
		t.Fatal(err)
	}
	if err := r.st.AddUser("bob", "password of bob"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	alice, bob := r.client(t, "u", "password of u"), r.client(t, "bob", "password of bob")
	type polled struct {
		p   protocol.Invites
		err error
	}
	ring := make(chan polled, 1)
	go func() {
		p, err := bob.Invites(ctx, 20*time.Second)
		ring <- polled{p, err}
	}()
	in, err := alice.Invite(ctx, "team", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Invite(ctx, "team", "nobody"); !errors.Is(err, watch.ErrNotFound) {
		t.Errorf("calling nobody: %v", err)
	}
	got := <-ring
	if got.err != nil || len(got.p.Ringing) != 1 || got.p.Ringing[0].From != "u" || got.p.Ringing[0].Room != "team" {
		t.Fatalf("bob's poll: %+v %v", got.p, got.err)
	}
	if err := bob.Answer(ctx, got.p.Ringing[0].ID); err != nil {
		t.Fatal(err)
	}
	if st, err := alice.InviteState(ctx, in.ID); err != nil || st.State != protocol.InviteAnswered {
		t.Errorf("alice sees %+v, %v", st, err)
	}
}
