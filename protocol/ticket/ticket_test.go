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
	tk := Ticket{Stream: "demo", User: "alice", Session: "login-1", Expires: now.Add(time.Minute)}
	s, err := Sign(key, tk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(key, s, "demo", now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Stream != tk.Stream || got.User != tk.User || got.Session != tk.Session || !got.Expires.Equal(tk.Expires) || got.Nonce == 0 {
		t.Errorf("got %+v, want %+v with a nonce", got, tk)
	}
	// Each ticket is unique, so that the relay can accept it once.
	if again, _ := Sign(key, tk); again == s {
		t.Error("two tickets signed for the same viewer in the same second are identical")
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
		{"garbage", "v2.!!!.???", "demo", now, ErrMalformed},
		{"no signature", "v2.abc", "demo", now, ErrMalformed},
		{"old version", "v1." + strings.SplitN(s, ".", 2)[1], "demo", now, ErrMalformed},
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
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 4, 'd', 'e', 'm', 'o', 1, 'a', 2, 's', '1'})
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
		if tk.Nonce == 0 { // Sign drew one
			tk.Nonce = back.Nonce
		}
		if err != nil || back != tk {
			t.Fatalf("round trip %+v -> %+v, %v", tk, back, err)
		}
	})
}
