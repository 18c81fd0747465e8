package relay

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestLimitListener: connections over the per-address or the overall
// limit are closed at once, counted, and a closed connection frees its
// place.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newLimitListener(inner, 3, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closed reports whether the relay closed c (EOF) rather than kept it.
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
	}
	kept := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("connection not accepted")
			return nil
		}
	}

	dial("127.0.0.1")
	dial("127.0.0.1")
	first, _ := kept(), kept()
	if c := dial("127.0.0.1"); !closed(c) {
		t.Error("a third connection from one address was kept")
	}
	dial("127.0.0.2")
	kept()
	if c := dial("127.0.0.3"); !closed(c) {
		t.Error("a connection over the overall limit was kept")
	}
	if n := l.refused.Load(); n != 2 {
		t.Errorf("%d refused, want 2", n)
	}
	first.Close()
	if total, fromIP := l.open("127.0.0.1"); total != 2 || fromIP != 1 {
		t.Errorf("after a close: %d open, %d from 127.0.0.1; want 2, 1", total, fromIP)
	}
	dial("127.0.0.1")
	kept()
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
