package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/quic-go/webtransport-go"

	"github.com/quicast/quicast/protocol"
)

// ErrNoRoom is a room the relay does not have.
var ErrNoRoom = errors.New("no such room")

// Join joins room as the logged-in user (protocol README §4.1): the answer
// holds the publish key of the user's stream in it (for an SRTP sender:
// quicast-send's -key, with Stream as -stream) and a WebTransport URL to
// publish from (Publish).
func (c *Client) Join(ctx context.Context, room string) (protocol.RoomJoin, error) {
	var j protocol.RoomJoin
	err := c.roomCall(ctx, "POST", room, "/join", &j)
	return j, err
}

// Room returns who publishes in room now.
func (c *Client) Room(ctx context.Context, room string) (protocol.RoomInfo, error) {
	var info protocol.RoomInfo
	err := c.roomCall(ctx, "GET", room, "", &info)
	return info, err
}

func (c *Client) roomCall(ctx context.Context, method, room, suffix string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.relay+protocol.PathRooms+url.PathEscape(room)+suffix, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("room %s: %w", room, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return fmt.Errorf("room %s: %w (%s)", room, ErrLoginNeeded, errorText(resp.Body))
	case http.StatusNotFound:
		return fmt.Errorf("%w %q", ErrNoRoom, room)
	default:
		return fmt.Errorf("room %s: %s: %s", room, resp.Status, errorText(resp.Body))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("room %s: %w", room, err)
	}
	return nil
}

// Publisher is a participant's publish session over WebTransport (protocol
// README §4.2), as a browser in a room opens it.
type Publisher struct {
	wt   *webtransport.Session
	ctrl *webtransport.Stream
	rd   *protocol.ControlReader
	// Tracks is the relay's catalog: the SSRC and payload type of each
	// offered track.
	Tracks []protocol.TrackInfo

	mu    sync.Mutex // the control stream's writes
	group *webtransport.SendStream
	seq   uint64
}

// Publish opens the publish session of u (RoomJoin.URL: a fresh Join for
// each session), offers tracks (Kind, Codec, Channels, Width, Height) as
// client and waits for the catalog. ctx bounds the opening only.
func (c *Client) Publish(ctx context.Context, u string, tracks []protocol.TrackInfo, client string) (*Publisher, error) {
	rsp, sess, err := c.wt.Dial(ctx, u, nil)
	if err != nil {
		if rsp != nil {
			return nil, fmt.Errorf("publish session: %s: %w", rsp.Status, err)
		}
		return nil, fmt.Errorf("publish session: %w", err)
	}
	fail := func(err error) (*Publisher, error) {
		sess.CloseWithError(0, "")
		return nil, err
	}
	ctrl, err := sess.OpenStreamSync(ctx)
	if err != nil {
		return fail(fmt.Errorf("publish session: control stream: %w", err))
	}
	if err := protocol.WriteMessage(ctrl, &protocol.Message{Type: protocol.MsgPublish, Client: client, Tracks: tracks}); err != nil {
		return fail(fmt.Errorf("publish session: %w", err))
	}
	p := &Publisher{wt: sess, ctrl: ctrl, rd: protocol.NewControlReader(ctrl)}
	stop := context.AfterFunc(ctx, func() { ctrl.CancelRead(0) })
	m, err := p.rd.Read()
	stop()
	switch {
	case err != nil:
		return fail(fmt.Errorf("publish session: %w", err))
	case m.Type == protocol.MsgError:
		return fail(fmt.Errorf("publish refused: %s", m.Reason))
	case m.Type != protocol.MsgCatalog:
		return fail(fmt.Errorf("publish session: %s before the catalog", m.Type))
	}
	p.Tracks = m.Tracks
	return p, nil
}

// Track returns the catalog entry of kind ("video", "audio").
func (p *Publisher) Track(kind string) (protocol.TrackInfo, bool) {
	for _, t := range p.Tracks {
		if t.Kind == kind {
			return t, true
		}
	}
	return protocol.TrackInfo{}, false
}

// Context ends when the session does.
func (p *Publisher) Context() context.Context { return p.wt.Context() }

// Close ends the session.
func (p *Publisher) Close() error { return p.wt.CloseWithError(0, "") }

// ReadControl returns the relay's next message: MsgKeyframe (send one
// now), MsgStats (Viewers), MsgEnded; one goroutine at a time.
func (p *Publisher) ReadControl() (*protocol.Message, error) { return p.rd.Read() }

// WriteSync sends a sender report of one track.
func (p *Publisher) WriteSync(r protocol.SyncReport) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return protocol.WriteMessage(p.ctrl, &protocol.Message{Type: protocol.MsgSync, Sync: &r})
}

// WriteVideo sends the RTP packets of one video frame; a keyframe starts
// a new group stream (the previous one is ended). Packets before the
// first keyframe are dropped: no viewer could decode them.
func (p *Publisher) WriteVideo(ssrc uint32, keyframe bool, pkts [][]byte) error {
	if keyframe {
		if p.group != nil {
			p.group.Close()
		}
		s, err := p.wt.OpenUniStream()
		if err != nil {
			return err
		}
		p.group = s
		if _, err := s.Write(protocol.AppendGroupHeader(nil, protocol.GroupHeader{SSRC: ssrc, Group: p.seq})); err != nil {
			return err
		}
		p.seq++
	}
	if p.group == nil {
		return nil
	}
	var b []byte
	for _, pkt := range pkts {
		b = protocol.AppendPacket(b, pkt)
	}
	_, err := p.group.Write(b)
	return err
}

// WriteAudio sends one audio RTP packet in a datagram.
func (p *Publisher) WriteAudio(pkt []byte) error { return p.wt.SendDatagram(pkt) }
