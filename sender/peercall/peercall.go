// Package peercall sets up a direct call between two quicast desktops on a
// LAN, without a relay: the callee listens, shows a one-time code and its
// address; the caller dials that address with the code; the callee's side
// rings and answers or declines. Then each side sends its SRTP straight to
// the other's UDP port (sender peer mode) and receives the other's there.
//
// The handshake runs over TLS on TCP, on the same port number as the media
// (UDP). Neither side has a certificate anyone vouches for: TLS gives the
// handshake privacy from a passive listener (ephemeral ECDHE), and the code
// authenticates it. Each side proves it knows the code with an HMAC-SHA256,
// keyed with the code, over its role and the TLS exporter of this very
// connection (RFC 5705, RFC 8446 §7.5); a machine in the middle runs two
// TLS connections with different exporters, so it cannot forward a proof,
// and has one guess at the code per attempt (10⁻⁶ with six digits; the
// listener accepts few attempts per code). Only then are the SRTP master
// keys — each side's own, for what it sends — exchanged.
//
// Wire format: each message is one line of JSON (Hello, then Answer from
// the callee), at most maxLine bytes. The connection stays open for the
// call: closing it is hanging up.
package peercall

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender"
)

// DefaultPort is where a desktop listens for direct calls (TCP for the
// handshake, UDP for the media).
const DefaultPort = 7400

const (
	maxLine   = 16 << 10
	exporter  = "EXPORTER-quicast-peercall"
	helloWait = 10 * time.Second // for the caller's hello once connected
	// RingTimeout is how long a call rings before the caller gives up
	// (the callee sees a missed call).
	RingTimeout = 45 * time.Second
	// MaxTries is how many wrong codes a listener takes before it wants
	// a new code.
	MaxTries = 5
)

// Errors of a call that did not start.
var (
	ErrWrongCode = errors.New("wrong call code")
	ErrDeclined  = errors.New("the call was declined")
	ErrNoAnswer  = errors.New("no answer")
	ErrHungUp    = errors.New("the other side hung up")
	// ErrTooManyTries: the listener saw MaxTries wrong codes; it takes
	// calls again with a new code.
	ErrTooManyTries = errors.New("too many wrong call codes: show a new code")
)

// Media is what one side sends: where the other reaches it and the SRTP
// session of its own stream (RFC 3711; keys for one direction only).
type Media struct {
	Port      int    `json:"port"`    // UDP port this side receives on
	Profile   string `json:"profile"` // protocol.ProfileAEADAES128GCM or ProfileAES128CMHMACSHA1_80
	Key       []byte `json:"key"`
	Salt      []byte `json:"salt"`
	VideoSSRC uint32 `json:"videoSSRC,omitempty"`
	AudioSSRC uint32 `json:"audioSSRC,omitempty"`
	VideoPT   uint8  `json:"videoPT,omitempty"`
	AudioPT   uint8  `json:"audioPT,omitempty"`
	Codec     string `json:"codec,omitempty"` // WebCodecs codec string of the video: "vp8"
	Channels  uint16 `json:"channels,omitempty"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
}

// Hello is the caller's first message; Answer the callee's reply.
type Hello struct {
	Proof string `json:"proof"` // hex HMAC-SHA256: see proof
	Name  string `json:"name"`  // who calls, as they call themselves
	Media Media  `json:"media"`
}

// Answer is the callee's reply to a Hello.
type Answer struct {
	Proof   string `json:"proof,omitempty"`
	Name    string `json:"name,omitempty"`
	Media   *Media `json:"media,omitempty"`
	Decline bool   `json:"decline,omitempty"`
	Error   string `json:"error,omitempty"` // the caller's code was wrong
}

// NewCode returns a one-time code of six decimal digits.
func NewCode() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}

// proof is HMAC-SHA256(code, "quicast peercall v1" | role | exporter).
func proof(code, role string, cs tls.ConnectionState) (string, error) {
	ekm, err := cs.ExportKeyingMaterial(exporter, nil, 32)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(code))
	m.Write([]byte("quicast peercall v1\x00" + role + "\x00"))
	m.Write(ekm)
	return hex.EncodeToString(m.Sum(nil)), nil
}

func checkProof(code, role, got string, cs tls.ConnectionState) bool {
	want, err := proof(code, role, cs)
	return err == nil && hmac.Equal([]byte(want), []byte(got))
}

// selfSigned makes the ephemeral certificate a side presents: ECDSA P-256,
// valid for a day. Nobody checks it; the code authenticates the
// connection.
func selfSigned() (tls.Certificate, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "quicast direct call"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, nil
}

// tlsConfig accepts any certificate: the code is what authenticates.
func tlsConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert, NextProtos: []string{"quicast-peercall/1"}}
}

// Call is a call that started: the other side's name and media. Closing
// it (either side) hangs up.
type Call struct {
	Name   string // the other side's
	Remote Media  // what the other side sends, and where it receives
	Addr   net.IP // the other side's address (send media to Addr:Remote.Port)
	conn   *tls.Conn
	done   chan struct{}
	once   sync.Once
}

// newCall makes the call of conn; watch starts the goroutine that reads
// the connection for its end (the callee's is already running).
func newCall(conn *tls.Conn, name string, m Media, watch bool) *Call {
	c := &Call{Name: name, Remote: m, conn: conn, done: make(chan struct{})}
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.Addr = a.IP
	}
	if watch {
		go func() {
			// The connection carries nothing more: its end is the hang-up.
			var b [1]byte
			for {
				if _, err := conn.Read(b[:]); err != nil {
					c.Close()
					return
				}
			}
		}()
	}
	return c
}

// RemoteUDP is where to send this side's media.
func (c *Call) RemoteUDP() *net.UDPAddr { return &net.UDPAddr{IP: c.Addr, Port: c.Remote.Port} }

// Done is closed when the call ends (either side hung up, or the network
// between them went).
func (c *Call) Done() <-chan struct{} { return c.done }

// Close hangs up.
func (c *Call) Close() error {
	c.once.Do(func() {
		_ = c.conn.Close()
		close(c.done)
	})
	return nil
}

// Dial calls the desktop at addr (HOST:PORT) with its code, as name,
// offering m; it returns when the other side answers (a Call), declines
// (ErrDeclined), the code is wrong (ErrWrongCode) or nobody answers within
// RingTimeout (ErrNoAnswer). ctx cancels the attempt.
func Dial(ctx context.Context, addr, code, name string, m Media) (*Call, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, strconv.Itoa(DefaultPort))
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{Config: tlsConfig(cert), NetDialer: &net.Dialer{Timeout: 10 * time.Second}}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	conn := nc.(*tls.Conn)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	p, err := proof(code, "caller", conn.ConnectionState())
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := writeLine(conn, Hello{Proof: p, Name: name, Media: m}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("call %s: %w", addr, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(RingTimeout))
	var a Answer
	if err := readLine(bufio.NewReader(conn), &a); err != nil {
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, ErrNoAnswer
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("call %s: %w", addr, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	switch {
	case a.Error != "":
		conn.Close()
		return nil, fmt.Errorf("%w: %s", ErrWrongCode, a.Error)
	case a.Decline:
		conn.Close()
		return nil, ErrDeclined
	case a.Media == nil || !checkProof(code, "callee", a.Proof, conn.ConnectionState()):
		conn.Close()
		return nil, errors.New("the other side did not prove it knows the code: not the desktop you meant to call")
	}
	return newCall(conn, a.Name, *a.Media, true), nil
}

// Listener takes direct calls for one code at a time.
type Listener struct {
	ln    net.Listener
	mu    sync.Mutex
	code  string
	tries int
}

// Listen listens for calls on addr (":7400", "0.0.0.0:0") with code.
func Listen(addr, code string) (*Listener, error) {
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", addr, tlsConfig(cert))
	if err != nil {
		return nil, err
	}
	return &Listener{ln: ln, code: code}, nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Port is the listening port: media come to the same number over UDP.
func (l *Listener) Port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// Close stops listening; a call in progress goes on.
func (l *Listener) Close() error { return l.ln.Close() }

// SetCode starts taking a new code (and forgets the wrong tries).
func (l *Listener) SetCode(code string) {
	l.mu.Lock()
	l.code, l.tries = code, 0
	l.mu.Unlock()
}

// Incoming is a call ringing: answer or decline it. Done is closed when the
// caller gives up first (a missed call).
type Incoming struct {
	Name  string // who calls, as they call themselves
	Media Media
	From  net.Addr
	conn  *tls.Conn
	code  string
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	call  *Call // once answered
}

// Done is closed when the caller hung up before the answer.
func (in *Incoming) Done() <-chan struct{} { return in.done }

// Answer takes the call, offering m; the caller's Dial returns its Call.
func (in *Incoming) Answer(name string, m Media) (*Call, error) {
	p, err := proof(in.code, "callee", in.conn.ConnectionState())
	if err == nil {
		err = writeLine(in.conn, Answer{Proof: p, Name: name, Media: &m})
	}
	if err != nil {
		in.conn.Close()
		return nil, fmt.Errorf("%w (%v)", ErrHungUp, err)
	}
	c := newCall(in.conn, in.Name, in.Media, false)
	in.mu.Lock()
	in.call = c
	in.mu.Unlock()
	return c, nil
}

// Decline refuses the call.
func (in *Incoming) Decline() {
	_ = writeLine(in.conn, Answer{Decline: true})
	in.conn.Close()
	in.close()
}

func (in *Incoming) close() { in.once.Do(func() { close(in.done) }) }

// Accept waits for the next call that knows the code. A caller with a
// wrong code is told so and dropped; after MaxTries of them Accept returns
// ErrTooManyTries (SetCode, then Accept again).
func (l *Listener) Accept(ctx context.Context) (*Incoming, error) {
	stop := context.AfterFunc(ctx, func() { l.ln.Close() })
	defer stop()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		in, err := l.hello(nc.(*tls.Conn))
		if errors.Is(err, ErrTooManyTries) {
			return nil, err
		}
		if err != nil {
			continue
		}
		return in, nil
	}
}

func (l *Listener) hello(conn *tls.Conn) (*Incoming, error) {
	_ = conn.SetDeadline(time.Now().Add(helloWait))
	if err := conn.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReader(conn)
	var h Hello
	if err := readLine(r, &h); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	l.mu.Lock()
	code := l.code
	ok := l.tries < MaxTries && checkProof(code, "caller", h.Proof, conn.ConnectionState())
	if !ok {
		l.tries++
	}
	tries := l.tries
	l.mu.Unlock()
	if !ok {
		_ = writeLine(conn, Answer{Error: "the code does not match the one the other side shows"})
		conn.Close()
		if tries >= MaxTries {
			return nil, ErrTooManyTries
		}
		return nil, ErrWrongCode
	}
	in := &Incoming{Name: h.Name, Media: h.Media, From: conn.RemoteAddr(), conn: conn, code: code, done: make(chan struct{})}
	go func() {
		// The connection carries nothing more: its end is the caller
		// giving up while it rings, or hanging up the call.
		var b [1]byte
		for {
			if _, err := r.Read(b[:]); err != nil {
				in.close()
				in.mu.Lock()
				c := in.call
				in.mu.Unlock()
				if c != nil {
					c.Close()
				}
				return
			}
		}
	}()
	return in, nil
}

func writeLine(c net.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write(append(b, '\n'))
	_ = c.SetWriteDeadline(time.Time{})
	return err
}

func readLine(r *bufio.Reader, v any) error {
	var line []byte
	for {
		part, more, err := r.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, part...)
		if len(line) > maxLine {
			return errors.New("message too long")
		}
		if !more {
			break
		}
	}
	return json.Unmarshal(line, v)
}

// NewMedia returns this side's media for a call: fresh AEAD_AES_128_GCM
// keys (RFC 7714) and SSRCs for a VP8 picture (when video) and Opus sound
// (when audio), received on port.
func NewMedia(port int, video, audio bool) Media {
	r := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	ssrc := func() uint32 {
		b := r(4)
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | 1
	}
	m := Media{Port: port, Profile: protocol.ProfileAEADAES128GCM, Key: r(16), Salt: r(12)}
	if video {
		m.VideoSSRC, m.VideoPT, m.Codec = ssrc(), protocol.PayloadTypeVP8, protocol.WebCodecsVP8
	}
	if audio {
		m.AudioSSRC, m.AudioPT, m.Channels = ssrc(), protocol.PayloadTypeOpus, 2
	}
	return m
}

// Session is the sender session that sends the stream m describes to the
// other side at to: video and audio to the same port (rtcp-mux), the
// other side's PLIs coming back.
func (m Media) Session(to *net.UDPAddr) sender.Session {
	return sender.Session{Addr: to, Profile: m.Profile, Key: m.Key, Salt: m.Salt, VideoSSRC: m.VideoSSRC, AudioSSRC: m.AudioSSRC,
		VideoPT: m.VideoPT, AudioPT: m.AudioPT}
}
