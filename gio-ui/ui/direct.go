package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/quicast/quicast/gio-ui/receive"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/peercall"
)

// A direct call on a LAN (sender/peercall): no relay, no account. The
// callee's window listens while Call → Direct is chosen and shows its
// address and a one-time code; the caller types both. The callee's window
// rings; once answered each side sends its SRTP straight to the other.

// directConfig is one direct call: dial Addr with Code, or answer
// Incoming (on the listener's port).
type directConfig struct {
	Name         string // this side's, shown to the other
	Addr, Code   string // to call
	Incoming     *peercall.Incoming
	Port         int // to answer on: the listener's
	Video, Audio bool
	Speaker      func(receive.Sound) (*receive.Speaker, error)
	Echo         bool // as callConfig.Echo
	Logger       *slog.Logger
}

// startDirectCall starts a direct call; the window's broadcast half
// starts with its peerSession once the other side has answered.
func startDirectCall(cfg directConfig, changed func()) *call {
	ctx, cancel := context.WithCancel(context.Background())
	c := newCall(cancel, changed, cfg.Logger, cfg.Echo)
	c.direct = true
	go func() {
		defer close(c.done)
		defer c.closeSpeaker()
		go c.report(ctx)
		c.runDirect(ctx, cfg)
	}()
	return c
}

func (c *call) runDirect(ctx context.Context, cfg directConfig) {
	port := 0
	if cfg.Incoming != nil {
		port = cfg.Port
	}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
	if err != nil {
		if cfg.Incoming != nil {
			cfg.Incoming.Decline()
		}
		c.fail(fmt.Errorf("cannot receive on UDP port %d: %w", port, err))
		return
	}
	m := peercall.NewMedia(udp.LocalAddr().(*net.UDPAddr).Port, cfg.Video, cfg.Audio)
	var pc *peercall.Call
	if cfg.Incoming != nil {
		pc, err = cfg.Incoming.Answer(cfg.Name, m)
	} else {
		c.mu.Lock()
		c.them = cfg.Addr
		c.mu.Unlock()
		pc, err = peercall.Dial(ctx, cfg.Addr, cfg.Code, cfg.Name, m)
	}
	if err != nil {
		udp.Close()
		if ctx.Err() == nil {
			cfg.Logger.Info("direct call failed", "err", err)
			c.fail(err)
		}
		return
	}
	defer pc.Close()
	cfg.Logger.Info("direct call", "name", pc.Name, "remote", pc.RemoteUDP())
	sess := m.Session(pc.RemoteUDP())
	p := &party{user: pc.Name, cancel: func() {}}
	c.mu.Lock()
	c.peer, c.them, c.parties = &sess, pc.Name, []*party{p}
	c.mu.Unlock()
	c.changed()
	rc, err := receive.StartPeer(ctx, udp, pc.Remote, nil)
	if err != nil {
		c.fail(err)
		return
	}
	defer rc.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve(ctx, p, rc, cfg.Speaker)
	}()
	// Over when the handshake's connection ends or the other side's media
	// do (its RTCP BYE comes before the connection closes): either way
	// the other side hung up, unless this side did.
	select {
	case <-pc.Done():
		rc.Close()
		<-served
	case <-served:
	}
	if ctx.Err() == nil {
		cfg.Logger.Info("the other side hung up", "name", pc.Name)
		c.fail(peercall.ErrHungUp)
	}
}

// peerSession returns the session this side's broadcast sends with once
// the other side of a direct call answered.
func (c *call) peerSession() (sender.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peer == nil {
		return sender.Session{}, false
	}
	return *c.peer, true
}

// lanListener takes direct calls for the window: its address and code
// are shown; a call that comes rings until answered, declined or given up
// (a missed call).
type lanListener struct {
	l       *peercall.Listener
	cancel  context.CancelFunc
	done    chan struct{}
	changed func()
	log     *slog.Logger

	mu       sync.Mutex
	code     string
	ringing  *peercall.Incoming
	missed   []missedCall
	busy     bool // in a call: new calls are declined
	answered *peercall.Incoming
}

type missedCall struct {
	Name string
	At   time.Time
}

// listenForCalls listens on port (0: peercall.DefaultPort), or any free
// port when another program has it.
func listenForCalls(port int, changed func(), log *slog.Logger) (*lanListener, error) {
	if port == 0 {
		port = peercall.DefaultPort
	}
	code := peercall.NewCode()
	l, err := peercall.Listen(":"+strconv.Itoa(port), code)
	if err != nil {
		if l, err = peercall.Listen(":0", code); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ll := &lanListener{l: l, cancel: cancel, done: make(chan struct{}), changed: changed, code: code, log: log}
	go func() {
		defer close(ll.done)
		ll.run(ctx)
	}()
	return ll, nil
}

func (ll *lanListener) run(ctx context.Context) {
	for {
		in, err := ll.l.Accept(ctx)
		switch {
		case errors.Is(err, peercall.ErrTooManyTries):
			code := peercall.NewCode()
			ll.l.SetCode(code)
			ll.mu.Lock()
			ll.code = code
			ll.mu.Unlock()
			ll.log.Info("taking direct calls with a new code: too many wrong ones", "port", ll.l.Port(), "code", code)
			ll.changed()
			continue
		case err != nil:
			return
		}
		ll.mu.Lock()
		if ll.busy || ll.ringing != nil {
			ll.mu.Unlock()
			in.Decline()
			continue
		}
		ll.ringing = in
		ll.mu.Unlock()
		ll.changed()
		go func() {
			<-in.Done()
			ll.mu.Lock()
			if ll.ringing == in {
				ll.ringing = nil
				if ll.answered != in {
					ll.missed = append(ll.missed, missedCall{Name: in.Name, At: time.Now()})
				}
			}
			ll.mu.Unlock()
			ll.changed()
		}()
	}
}

// take returns the ringing call for answering (it stops ringing), or nil.
func (ll *lanListener) take() *peercall.Incoming {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	in := ll.ringing
	ll.ringing, ll.answered = nil, in
	return in
}

func (ll *lanListener) setBusy(b bool) {
	ll.mu.Lock()
	ll.busy = b
	ll.mu.Unlock()
}

// lanStatus is what the window shows of the listener.
type lanStatus struct {
	Port    int
	Code    string
	Ringing string // who calls now; "" none
	Missed  []missedCall
}

func (ll *lanListener) status() lanStatus {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	s := lanStatus{Port: ll.l.Port(), Code: ll.code, Missed: ll.missed}
	if ll.ringing != nil {
		s.Ringing = ll.ringing.Name
	}
	return s
}

func (ll *lanListener) close() {
	ll.cancel()
	ll.l.Close()
	<-ll.done
	ll.mu.Lock()
	in := ll.ringing
	ll.ringing = nil
	ll.mu.Unlock()
	if in != nil {
		in.Decline()
	}
}

// lanAddrs returns this machine's non-loopback IPv4 addresses: where the
// other side reaches this window on the LAN.
func lanAddrs() []string {
	var out []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			out = append(out, n.IP.String())
		}
	}
	return out
}
