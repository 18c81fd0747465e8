package netem

import (
	"bytes"
	"context"
	"math"
	"net"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// admitAll sends n datagrams of size bytes spaced by gap and returns every
// copy's departure.
func admitAll(l *Link, n, size int, gap time.Duration) (dues [][]time.Time) {
	for i := range n {
		dues = append(dues, l.Admit(t0.Add(time.Duration(i)*gap), size, nil))
	}
	return dues
}

func TestLinkLossAndDuplicationRates(t *testing.T) {
	const n = 20000
	l := NewLink(Impairment{Loss: 0.05, Duplicate: 0.02, Seed: 1})
	admitAll(l, n, 1200, time.Millisecond)
	s := l.Stats()
	// Binomial: 5 % of 20000 is 1000 ± 31 (one sigma); allow five sigma.
	if math.Abs(float64(s.Lost)-1000) > 155 {
		t.Errorf("lost %d of %d, want about 1000", s.Lost, n)
	}
	if math.Abs(float64(s.Duplicated)-0.02*0.95*n) > 5*math.Sqrt(0.02*n) {
		t.Errorf("duplicated %d of %d, want about %d", s.Duplicated, n, int(0.02*0.95*n))
	}
	if s.In != n || s.Out != n-s.Lost+s.Duplicated {
		t.Errorf("in %d out %d, lost %d duplicated %d: counts do not add up", s.In, s.Out, s.Lost, s.Duplicated)
	}
}

func TestLinkIsReproducible(t *testing.T) {
	im := Impairment{Loss: 0.1, Duplicate: 0.05, Jitter: 30 * time.Millisecond, Seed: 42}
	a := admitAll(NewLink(im), 500, 1000, 3*time.Millisecond)
	b := admitAll(NewLink(im), 500, 1000, 3*time.Millisecond)
	if !slices.EqualFunc(a, b, slices.Equal[[]time.Time]) {
		t.Fatal("the same seed gave different decisions")
	}
	im.Seed = 43
	c := admitAll(NewLink(im), 500, 1000, 3*time.Millisecond)
	if slices.EqualFunc(a, c, slices.Equal[[]time.Time]) {
		t.Fatal("another seed gave the same decisions")
	}
}

func TestLinkDelayAndJitter(t *testing.T) {
	const delay, jitter = 20 * time.Millisecond, 30 * time.Millisecond
	l := NewLink(Impairment{Delay: delay, Jitter: jitter, Seed: 7})
	dues := admitAll(l, 2000, 1000, 3*time.Millisecond)
	var sum time.Duration
	for i, d := range dues {
		if len(d) != 1 {
			t.Fatalf("datagram %d: %d copies", i, len(d))
		}
		wait := d[0].Sub(t0.Add(time.Duration(i) * 3 * time.Millisecond))
		if wait < delay || wait >= delay+jitter {
			t.Fatalf("datagram %d waits %v, want in [%v, %v)", i, wait, delay, delay+jitter)
		}
		sum += wait
	}
	if mean := sum / 2000; mean < delay+jitter/2-3*time.Millisecond || mean > delay+jitter/2+3*time.Millisecond {
		t.Errorf("mean wait %v, want about %v", mean, delay+jitter/2)
	}
	// 30 ms of jitter on datagrams 3 ms apart reorders many of them.
	if r := l.Stats().Reordered; r < 500 {
		t.Errorf("%d of 2000 reordered, want many", r)
	}
}

func TestLinkRateAndQueue(t *testing.T) {
	// 1 Mbit/s: a 1250-byte datagram takes 10 ms on the link.
	l := NewLink(Impairment{Rate: 1_000_000, QueueDelay: 50 * time.Millisecond})
	var last time.Time
	for i := range 10 { // a burst, all at t0
		d := l.Admit(t0, 1250, nil)
		switch {
		case i <= 5 && len(d) != 1:
			t.Fatalf("datagram %d dropped with %d ms queued", i, i*10)
		case i <= 5:
			if want := t0.Add(time.Duration(i+1) * 10 * time.Millisecond); !d[0].Equal(want) {
				t.Errorf("datagram %d leaves at +%v, want +%v", i, d[0].Sub(t0), want.Sub(t0))
			}
			last = d[0]
		case len(d) != 0:
			t.Errorf("datagram %d left at +%v behind a %d ms queue, want dropped", i, d[0].Sub(t0), i*10)
		}
	}
	if s := l.Stats(); s.Overflow != 4 {
		t.Errorf("overflow %d, want 4", s.Overflow)
	}
	// Once the queue drained, a datagram goes straight through.
	if d := l.Admit(last.Add(time.Second), 1250, nil); len(d) != 1 || d[0].Sub(last) != time.Second+10*time.Millisecond {
		t.Errorf("after idle: %v", d)
	}
}

// The proxy forwards both ways over real sockets, and a lossy up direction
// loses what its Link decides.
func TestProxyForwardsBothWays(t *testing.T) {
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, a, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:n], a)
		}
	}()
	p, err := Listen(echo.LocalAddr().(*net.UDPAddr), Impairment{Delay: 5 * time.Millisecond}, Impairment{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.DialUDP("udp", nil, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	for i := range 5 {
		msg := []byte{byte(i), 1, 2, 3}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo %x, want %x", buf[:n], msg)
		}
	}
	if up, down := p.Up(), p.Down(); up.Out != 5 || down.Out != 5 {
		t.Errorf("up %+v down %+v, want 5 each way", up, down)
	}

	p.SetUp(Impairment{Loss: 1})
	for range 20 {
		c.Write([]byte{9})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitUp(ctx, 25); err != nil {
		t.Fatalf("the proxy took in %d of 25 datagrams: %v", p.Up().In, err)
	}
	if up := p.Up(); up.In != 25 || up.Lost != 20 || up.Out != 5 {
		t.Errorf("after loss 1: up %+v, want 20 more in and all lost", up)
	}
}
