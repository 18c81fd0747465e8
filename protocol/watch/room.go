package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

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

// Invite calls user to room: their pages and windows that wait for calls
// ring (protocol README §4.3). Follow it with InviteState.
func (c *Client) Invite(ctx context.Context, room, user string) (protocol.Invite, error) {
	var in protocol.Invite
	body, _ := json.Marshal(map[string]string{"user": user})
	err := c.call(ctx, "POST", protocol.PathRooms+url.PathEscape(room)+"/invite", body, &in)
	return in, err
}

// InviteState returns an invitation as it is now (ringing, answered,
// declined, missed).
func (c *Client) InviteState(ctx context.Context, id string) (protocol.Invite, error) {
	var in protocol.Invite
	err := c.call(ctx, "GET", protocol.PathInvites+url.PathEscape(id), nil, &in)
	return in, err
}

// Invites returns the calls ringing for the logged-in user and their
// missed calls, waiting up to wait (at most 25 s) for one to ring.
func (c *Client) Invites(ctx context.Context, wait time.Duration) (protocol.Invites, error) {
	var p protocol.Invites
	err := c.call(ctx, "GET", protocol.PathInvites+"?wait="+strconv.Itoa(int(wait/time.Second)), nil, &p)
	return p, err
}

// Answer takes the call id (then join its room); Decline refuses it.
func (c *Client) Answer(ctx context.Context, id string) error {
	return c.call(ctx, "POST", protocol.PathInvites+url.PathEscape(id)+"/answer", nil, nil)
}

// Decline refuses the call id.
func (c *Client) Decline(ctx context.Context, id string) error {
	return c.call(ctx, "POST", protocol.PathInvites+url.PathEscape(id)+"/decline", nil, nil)
}

// ErrNotFound is an invitation, user or room the relay does not have.
var ErrNotFound = errors.New("not found")

func (c *Client) call(ctx context.Context, method, path string, body []byte, v any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.relay+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := *c.http
	hc.Timeout = 0 // long polls: ctx bounds the request
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (%s)", ErrLoginNeeded, errorText(resp.Body))
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, errorText(resp.Body))
	default:
		return fmt.Errorf("%s: %s", resp.Status, errorText(resp.Body))
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
