// Package watch is the Go client of a relay's viewer side, as the watch
// page is the browser's (protocol README §2–3): it logs in, takes a ticket
// for each session, opens the WebTransport session, says hello on the
// control stream, and hands over what arrives — control messages, video
// groups and the audio RTP packets of the datagrams. quicast-load and the
// desktop window's receiver use it.
package watch

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

	"github.com/quicast/quicast/protocol"
)

// Client is one login on a relay; its sessions share one QUIC transport
// configuration. Safe for concurrent use once made.
type Client struct {
	relay string // https://host:port, no trailing slash
	http  *http.Client
	wt    *webtransport.Transport
}

// Config says which relay and how to reach it.
type Config struct {
	Relay string      // https://host:port
	TLS   *tls.Config // trusts the relay (RootCAs); nil: the system's roots
	// Via, when set, is the UDP address ("host:port") the sessions' QUIC
	// connections go to instead of the relay's own — a network emulator
	// in front of it, say. TLS still checks the relay's name.
	Via string
	// Timeout bounds each HTTPS request (default 15 s).
	Timeout time.Duration
}

// NewClient makes a client of cfg.Relay; it has not logged in yet.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	jar, _ := cookiejar.New(nil)
	c := &Client{
		relay: strings.TrimRight(cfg.Relay, "/"),
		http:  &http.Client{Jar: jar, Timeout: cfg.Timeout, Transport: &http.Transport{TLSClientConfig: cfg.TLS}},
		wt: &webtransport.Transport{
			TLSClientConfig: tlsWithH3(cfg.TLS),
			QUICConfig:      &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true, MaxIncomingUniStreams: 1000},
		},
	}
	if cfg.Via != "" {
		c.wt.DialAddr = func(ctx context.Context, addr string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
			if tc.ServerName == "" {
				host, _, _ := net.SplitHostPort(addr)
				tc = tc.Clone()
				tc.ServerName = host
			}
			return quic.DialAddrEarly(ctx, cfg.Via, tc, qc)
		}
	}
	return c
}

func tlsWithH3(c *tls.Config) *tls.Config {
	if c == nil {
		c = &tls.Config{}
	}
	c = c.Clone()
	c.NextProtos = []string{http3.NextProtoH3}
	return c
}

// ErrLogin is a login the relay refused (wrong name or password, or too
// many attempts); the error says which.
var ErrLogin = errors.New("login refused")

// Login logs in as user; the session cookie is kept for Ticket.
func (c *Client) Login(ctx context.Context, user, password string) error {
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", c.relay+"/api/login", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%w: %s: %s", ErrLogin, resp.Status, errorText(resp.Body))
	}
	return nil
}

// ErrLoginNeeded is a ticket refused for want of a login (never logged in,
// logged out, the password changed): Login again.
var ErrLoginNeeded = errors.New("not logged in")

// ErrNoStream is a ticket refused because the relay has no such stream.
var ErrNoStream = errors.New("no such stream")

// Ticket takes a fresh viewer ticket for stream (single use, short-lived;
// protocol README §3.1) and returns the session URL it is in.
func (c *Client) Ticket(ctx context.Context, stream string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.relay+"/api/ticket?stream="+url.QueryEscape(stream), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("ticket: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return "", fmt.Errorf("ticket: %w (%s)", ErrLoginNeeded, errorText(resp.Body))
	case http.StatusNotFound:
		return "", fmt.Errorf("ticket: %w %q", ErrNoStream, stream)
	default:
		return "", fmt.Errorf("ticket: %s: %s", resp.Status, errorText(resp.Body))
	}
	var t struct{ URL string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&t); err != nil {
		return "", fmt.Errorf("ticket: %w", err)
	}
	return t.URL, nil
}

func errorText(r io.Reader) string {
	var e protocol.ErrorResponse
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(b))
}

// Session is one viewer session of a stream.
type Session struct {
	wt   *webtransport.Session
	ctrl *webtransport.Stream
	rd   *protocol.ControlReader
}

// Dial takes a ticket for stream, opens its session and says hello as
// client (a name the relay logs). ctx bounds the opening only.
func (c *Client) Dial(ctx context.Context, stream, client string) (*Session, error) {
	u, err := c.Ticket(ctx, stream)
	if err != nil {
		return nil, err
	}
	rsp, sess, err := c.wt.Dial(ctx, u, nil)
	if err != nil {
		if rsp != nil {
			return nil, fmt.Errorf("session: %s: %w", rsp.Status, err)
		}
		return nil, fmt.Errorf("session: %w", err)
	}
	ctrl, err := sess.OpenStreamSync(ctx)
	if err != nil {
		sess.CloseWithError(0, "")
		return nil, fmt.Errorf("session: control stream: %w", err)
	}
	if err := protocol.WriteMessage(ctrl, &protocol.Message{Type: protocol.MsgHello, Client: client}); err != nil {
		sess.CloseWithError(0, "")
		return nil, fmt.Errorf("session: hello: %w", err)
	}
	return &Session{wt: sess, ctrl: ctrl, rd: protocol.NewControlReader(ctrl)}, nil
}

// Context ends when the session does.
func (s *Session) Context() context.Context { return s.wt.Context() }

// Close ends the session.
func (s *Session) Close() error { return s.wt.CloseWithError(0, "") }

// ReadControl returns the next control message (catalog, sender report,
// stats, end of broadcast); one goroutine at a time.
func (s *Session) ReadControl() (*protocol.Message, error) { return s.rd.Read() }

// WriteControl sends m on the control stream (a keyframe request, say).
func (s *Session) WriteControl(m *protocol.Message) error { return protocol.WriteMessage(s.ctrl, m) }

// AcceptGroup returns the next video group stream, to be read with
// protocol.NewGroupReader — in a goroutine of its own: groups overlap, and
// a late one must not hold up the next.
func (s *Session) AcceptGroup(ctx context.Context) (io.Reader, error) {
	return s.wt.AcceptUniStream(ctx)
}

// ErrBadDatagram is an audio datagram that could not be parsed: count it
// and read on.
var ErrBadDatagram = errors.New("audio datagram that cannot be parsed")

// ReadAudio waits for the next audio datagram and calls fn with each RTP
// packet in it (one, or a bundle: protocol.SplitDatagram); it reports
// whether the datagram was a bundle. A datagram that cannot be parsed
// gives ErrBadDatagram, after fn has had the packets before the fault; any
// other error ends the session.
func (s *Session) ReadAudio(ctx context.Context, fn func(pkt []byte)) (bundle bool, err error) {
	d, err := s.wt.ReceiveDatagram(ctx)
	if err != nil {
		return false, err
	}
	if err := protocol.SplitDatagram(d, fn); err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadDatagram, err)
	}
	return len(d) > 0 && d[0] == protocol.DatagramBundle, nil
}
