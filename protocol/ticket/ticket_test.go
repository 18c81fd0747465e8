package ticket

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTicket(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	now := time.Unix(1_800_000_000, 0)
	tk := Ticket{Stream: "demo", User: "alice", Expires: now.Add(time.Minute)}
	s, err := Sign(key, tk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(key, s, "demo", now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Stream != tk.Stream || got.User != tk.User || !got.Expires.Equal(tk.Expires) {
		t.Errorf("got %+v, want %+v", got, tk)
	}

	otherKey := bytes.Repeat([]byte{8}, KeySize)
	forged, _ := Sign(otherKey, tk)
	// Flip one payload character: the MAC no longer matches.
	tampered := []byte(s)
	if tampered[5] == 'A' {
		tampered[5] = 'B'
	} else {
		tampered[5] = 'A'
	}
	for _, c := range []struct {
		name, ticket, stream string
		now                  time.Time
		want                 error
	}{
		{"expired", s, "demo", now.Add(time.Minute), ErrExpired},
		{"other stream", s, "other", now, ErrStream},
		{"forged key", forged, "demo", now, ErrForged},
		{"tampered", string(tampered), "demo", now, ErrForged},
		{"missing", "", "demo", now, ErrMalformed},
		{"garbage", "v1.!!!.???", "demo", now, ErrMalformed},
		{"no signature", "v1.abc", "demo", now, ErrMalformed},
	} {
		if _, err := Verify(key, c.ticket, c.stream, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Sign(key, Ticket{Stream: strings.Repeat("x", 256)}); err == nil {
		t.Error("Sign with a 256-byte stream name: no error")
	}
}

func FuzzTicketPayload(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 4, 'd', 'e', 'm', 'o', 1, 'a'})
	f.Add([]byte{1})
	f.Add([]byte{})
	key := make([]byte, KeySize)
	f.Fuzz(func(t *testing.T, p []byte) {
		tk, err := parsePayload(p)
		if err != nil {
			return
		}
		s, err := Sign(key, tk)
		if err != nil {
			t.Fatalf("re-sign %+v: %v", tk, err)
		}
		back, err := verifyMAC(key, s)
		if err != nil || back.Stream != tk.Stream || back.User != tk.User || !back.Expires.Equal(tk.Expires) {
			t.Fatalf("round trip %+v -> %+v, %v", tk, back, err)
		}
	})
}
