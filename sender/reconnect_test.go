package sender_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quicast/quicast/relay/relaytest"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

// publishTest opens the real test source (VP8 + Opus, small) and publishes
// it to r with reconnection on; statuses collects every link change.
func publishTest(t *testing.T, r *relaytest.Relay, key string, tweak func(*sender.Config)) (*sender.Engine, *statuses) {
	t.Helper()
	e, st, err := publishTestErr(t, r, sender.PublishConfig{Relay: r.URL, Stream: "demo", Key: key, CAFile: r.CAFile()}, tweak)
	if err != nil {
		t.Fatal(err)
	}
	return e, st
}

func publishTestErr(t *testing.T, r *relaytest.Relay, pcfg sender.PublishConfig, tweak func(*sender.Config)) (*sender.Engine, *statuses, error) {
	t.Helper()
	clk := media.NewClock()
	opts := media.Options{Width: 160, Height: 120, FPS: 15, KeyframeInterval: time.Second}
	v, err := media.Open(context.Background(), clk, media.Source{Type: media.SourceTest}, media.KindVideo, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, err := media.Open(context.Background(), clk, media.Source{Type: media.SourceTest}, media.KindAudio, opts)
	if err != nil {
		t.Fatal(err)
	}
	vo, ao := sender.Offers(v, a)
	sess, _, err := sender.Publish(context.Background(), pcfg, vo, ao)
	if err != nil {
		media.CloseTracks(v, a)
		return nil, nil, err
	}
	st := &statuses{}
	cfg := sender.Config{Session: sess, Clock: clk, Video: v, Audio: a, Renew: sender.Renewer(pcfg, vo, ao),
		Backoff: sender.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond}, OnLink: st.add}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := sender.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, st, nil
}

type statuses struct {
	mu  sync.Mutex
	all []sender.LinkStatus
}

func (s *statuses) add(l sender.LinkStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, l)
}

func (s *statuses) list() []sender.LinkStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sender.LinkStatus(nil), s.all...)
}

// until waits for cond, asked every 20 ms, for up to 20 s: the engine's
// counters (RTCP received, frames skipped) tell no one when they change.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// rtcpAfter waits until the relay's RTCP reaches the engine again: the
// relay answers only a session it knows from a sender it has latched.
func rtcpAfter(t *testing.T, e *sender.Engine, what string) {
	t.Helper()
	n := e.Stats().RTCPIn
	until(t, what, func() bool { return e.Stats().RTCPIn >= n+2 })
}

// A relay restart: the sender is told the relay is going, keeps capturing,
// publishes again when the relay is back, and the relay hears it again.
func TestEngineRepublishesAfterRelayRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a relay")
	}
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	e, st := publishTest(t, r, key, nil)
	rtcpAfter(t, e, "the relay's first receiver reports")
	first := e.Link().Session

	r.Stop()
	until(t, "the engine to notice the relay's shutdown", func() bool { return e.Link().State == sender.LinkReconnecting })
	if err := e.Link().Err; !errors.Is(err, sender.ErrRelayGone) {
		t.Errorf("loss reported as %v, want ErrRelayGone", err)
	}
	skipped := e.Stats().Video.FramesSkipped
	until(t, "frames captured while the relay is away", func() bool { return e.Stats().Video.FramesSkipped > skipped+3 })
	until(t, "a failed attempt while the relay is down", func() bool { return e.Link().Attempt >= 2 })

	r.Restart(t)
	until(t, "the engine to publish again", func() bool { return e.Link().State == sender.LinkUp })
	l := e.Link()
	if l.Session == first || l.Session == "" || l.Reconnects != 1 {
		t.Errorf("after the restart: session %q (was %q), %d reconnects", l.Session, first, l.Reconnects)
	}
	rtcpAfter(t, e, "receiver reports from the restarted relay")
	select {
	case <-e.Done():
		t.Fatalf("engine stopped: %v", e.Err())
	default:
	}
	// The statuses went up → reconnecting (attempts counting up) → up.
	var attempts []int
	for _, s := range st.list() {
		if s.State == sender.LinkReconnecting && s.Attempt > 0 {
			attempts = append(attempts, s.Attempt)
		}
	}
	for i, a := range attempts {
		if a != i+1 {
			t.Fatalf("attempts reported %v, want 1, 2, 3, …", attempts)
		}
	}
	if last := st.list()[len(st.list())-1]; last.State != sender.LinkUp {
		t.Errorf("last status %+v", last)
	}
}

// Errors that publishing again cannot fix end the engine at once; the
// others are retried with growing waits.
func TestEngineRetriesUntilPermanentError(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the relay timeout")
	}
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close() // a relay that never answers
	clk := media.NewClock()
	v, err := media.Open(context.Background(), clk, media.Source{Type: media.SourceTest}, media.KindVideo, media.Options{Width: 160, Height: 120, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	st := &statuses{}
	e, err := sender.New(context.Background(), sender.Config{
		Session: sender.Session{ID: "s1", Addr: sink.LocalAddr().(*net.UDPAddr), Key: make([]byte, 16), Salt: make([]byte, 12),
			VideoSSRC: 1, VideoPT: 96, ExpectRTCP: true},
		Clock: clk, Video: v, OnLink: st.add,
		Backoff: sender.Backoff{Min: 20 * time.Millisecond, Max: 40 * time.Millisecond},
		Renew: func(_ context.Context, lost sender.Session) (sender.Session, error) {
			if lost.ID != "s1" {
				t.Errorf("renew of %q, want the lost session s1", lost.ID)
			}
			if calls.Add(1) < 3 {
				return sender.Session{}, errors.New("connection refused")
			}
			return sender.Session{}, sender.ErrBadKey
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the engine did not stop")
	}
	if !errors.Is(e.Err(), sender.ErrBadKey) || calls.Load() != 3 {
		t.Errorf("stopped with %v after %d attempts, want ErrBadKey after 3", e.Err(), calls.Load())
	}
	var sawRefused bool
	for _, s := range st.list() {
		sawRefused = sawRefused || (s.Attempt == 3 && s.Err != nil && s.Err.Error() == "connection refused")
	}
	if !sawRefused {
		t.Errorf("attempt 3 did not report the previous failure: %+v", st.list())
	}
}

// A second sender is refused while the first is live; -takeover replaces
// it, and the first stops without trying to take the stream back.
func TestTakeover(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	first, _ := publishTest(t, r, key, nil)
	rtcpAfter(t, first, "the first sender to be live")

	pcfg := sender.PublishConfig{Relay: r.URL, Stream: "demo", Key: key, CAFile: r.CAFile()}
	if _, _, err := publishTestErr(t, r, pcfg, nil); !errors.Is(err, sender.ErrLive) {
		t.Fatalf("second sender: %v, want ErrLive", err)
	}
	pcfg.Takeover = true
	second, _, err := publishTestErr(t, r, pcfg, nil)
	if err != nil {
		t.Fatalf("second sender with takeover: %v", err)
	}
	select {
	case <-first.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the first sender did not stop")
	}
	if !errors.Is(first.Err(), sender.ErrTakenOver) {
		t.Errorf("first sender stopped with %v, want ErrTakenOver", first.Err())
	}
	rtcpAfter(t, second, "the relay to answer the new sender")
	if second.Link().State != sender.LinkUp {
		t.Errorf("second sender %+v", second.Link())
	}
}

// Changing the stream's key on the relay ends its sender for good.
func TestRekeyEndsSender(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	e, _ := publishTest(t, r, key, nil)
	rtcpAfter(t, e, "the sender to be live")
	r.Rekey(t, "demo")
	select {
	case <-e.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the sender of the old key is still live")
	}
	if !errors.Is(e.Err(), sender.ErrRevoked) {
		t.Errorf("stopped with %v, want ErrRevoked", e.Err())
	}
}

// When the system would send from another local address (Wi-Fi to cable),
// the engine moves its socket and the relay follows it.
func TestEngineFollowsNewSourceAddress(t *testing.T) {
	r := relaytest.Start(t)
	key := r.AddStream(t, "demo")
	var moved atomic.Bool
	e, _ := publishTest(t, r, key, func(c *sender.Config) {
		c.SourceAddr = func(remote *net.UDPAddr) (netip.Addr, error) {
			if moved.Load() {
				// A loopback address the first socket was not bound to:
				// 127.0.0.0/8 all reach the relay on 127.0.0.1.
				return netip.MustParseAddr("127.0.0.2"), nil
			}
			return netip.MustParseAddr("127.0.0.1"), nil
		}
	})
	rtcpAfter(t, e, "the sender to be live")
	moved.Store(true)
	until(t, "the socket to move", func() bool { return e.Link().Moves >= 1 })
	rtcpAfter(t, e, "receiver reports at the new socket")
	if l := e.Link(); l.State != sender.LinkUp || l.Reconnects != 0 || l.Moves != 1 {
		t.Errorf("after the move: %+v (a move keeps the session)", l)
	}
}
