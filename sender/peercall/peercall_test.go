package peercall

import (
	"context"
	"errors"
	"testing"
	"time"
)

func listen(t *testing.T, code string) *Listener {
	t.Helper()
	l, err := Listen("127.0.0.1:0", code)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type accepted struct {
	in  *Incoming
	err error
}

func acceptOne(l *Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		in, err := l.Accept(context.Background())
		ch <- accepted{in, err}
	}()
	return ch
}

// TestCallAnswered: the caller with the right code rings the callee, who
// answers: each side has the other's name, media and address, and either
// hanging up ends the call on both sides.
func TestCallAnswered(t *testing.T) {
	l := listen(t, "123456")
	acc := acceptOne(l)
	type dialed struct {
		c   *Call
		err error
	}
	dch := make(chan dialed, 1)
	go func() {
		c, err := Dial(t.Context(), l.Addr().String(), "123456", "alice", Media{Port: 5000, Key: []byte{1, 2}, VideoSSRC: 7})
		dch <- dialed{c, err}
	}()
	a := <-acc
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.in.Name != "alice" || a.in.Media.Port != 5000 || a.in.Media.VideoSSRC != 7 {
		t.Errorf("ringing: %+v", a.in)
	}
	callee, err := a.in.Answer("bob", Media{Port: 6000, Key: []byte{3, 4}, AudioSSRC: 9})
	if err != nil {
		t.Fatal(err)
	}
	d := <-dch
	if d.err != nil {
		t.Fatal(d.err)
	}
	caller := d.c
	if caller.Name != "bob" || caller.Remote.Port != 6000 || caller.Remote.AudioSSRC != 9 || caller.RemoteUDP().String() != "127.0.0.1:6000" {
		t.Errorf("caller's call: %+v %v", caller, caller.RemoteUDP())
	}
	if callee.Name != "alice" || callee.RemoteUDP().Port != 5000 {
		t.Errorf("callee's call: %+v", callee)
	}
	caller.Close()
	select {
	case <-callee.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the callee did not see the caller hang up")
	}
}

// TestWrongCode: a wrong code is refused with a reason, never rings, and
// after MaxTries of them the listener wants a new code.
func TestWrongCode(t *testing.T) {
	l := listen(t, "123456")
	acc := acceptOne(l)
	for i := range MaxTries {
		_, err := Dial(t.Context(), l.Addr().String(), "654321", "mallory", Media{})
		if !errors.Is(err, ErrWrongCode) {
			t.Fatalf("try %d: %v, want ErrWrongCode", i, err)
		}
	}
	if a := <-acc; !errors.Is(a.err, ErrTooManyTries) {
		t.Fatalf("after %d wrong codes: %v, %v", MaxTries, a.in, a.err)
	}
	// Even the right code is refused until a new one is set.
	acc = acceptOne(l)
	if _, err := Dial(t.Context(), l.Addr().String(), "123456", "alice", Media{}); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("the old code after too many tries: %v", err)
	}
	if a := <-acc; !errors.Is(a.err, ErrTooManyTries) {
		t.Fatalf("%v", a.err)
	}
	l.SetCode("111111")
	acc = acceptOne(l)
	go Dial(t.Context(), l.Addr().String(), "111111", "alice", Media{})
	if a := <-acc; a.err != nil || a.in.Name != "alice" {
		t.Fatalf("the new code: %+v", a)
	}
}

// TestDeclinedAndMissed: a declined call tells the caller; a caller that
// gives up while it rings leaves a missed call on the callee's side.
func TestDeclinedAndMissed(t *testing.T) {
	l := listen(t, "123456")
	acc := acceptOne(l)
	errc := make(chan error, 1)
	go func() {
		_, err := Dial(t.Context(), l.Addr().String(), "123456", "alice", Media{})
		errc <- err
	}()
	a := <-acc
	a.in.Decline()
	if err := <-errc; !errors.Is(err, ErrDeclined) {
		t.Fatalf("declined: %v", err)
	}

	acc = acceptOne(l)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_, err := Dial(ctx, l.Addr().String(), "123456", "carol", Media{})
		errc <- err
	}()
	a = <-acc
	cancel() // carol gives up
	select {
	case <-a.in.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the callee never saw the caller give up: no missed call")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("the caller who gave up: %v", err)
	}
}
