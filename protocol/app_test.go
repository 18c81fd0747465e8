package protocol

import "testing"

func TestViewers(t *testing.T) {
	for _, n := range []uint32{0, 1, 70000, 1<<32 - 1} {
		got, err := ParseViewers(AppendViewers(nil, n))
		if err != nil || got != n {
			t.Errorf("%d: got %d, %v", n, got, err)
		}
	}
	if _, err := ParseViewers([]byte{1, 2, 3}); err == nil {
		t.Error("3 bytes accepted")
	}
}

func FuzzParseViewers(f *testing.F) {
	f.Add(AppendViewers(nil, 3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseViewers(b)
		if err == nil && string(AppendViewers(nil, n)) != string(b[:4]) {
			t.Errorf("%x parsed as %d", b, n)
		}
	})
}

func TestEnd(t *testing.T) {
	for _, c := range []EndCode{EndShutdown, EndTakenOver, EndRevoked, EndRemoved, EndExpired, 99} {
		got, err := ParseEnd(AppendEnd(nil, c))
		if err != nil || got != c {
			t.Errorf("%d: got %d, %v", c, got, err)
		}
	}
	for c, want := range map[EndCode]bool{EndShutdown: true, EndExpired: true, EndTakenOver: false, EndRevoked: false, EndRemoved: false, 99: false} {
		if c.Retry() != want {
			t.Errorf("%v.Retry() = %v, want %v", c, c.Retry(), want)
		}
	}
	if _, err := ParseEnd([]byte{0, 0, 1}); err == nil {
		t.Error("3 bytes accepted")
	}
}

func FuzzParseEnd(f *testing.F) {
	f.Add(AppendEnd(nil, EndTakenOver))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseEnd(b)
		if err == nil && string(AppendEnd(nil, c)) != string(b[:4]) {
			t.Errorf("%x parsed as %d", b, c)
		}
	})
}
