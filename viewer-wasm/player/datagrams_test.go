package player

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// TestDrainDatagrams: what is written comes out in order with its bytes
// and arrival (to the µs), the buffer is empty afterwards, a full buffer
// counts drops, and a record running past what the header says is
// reported without reading beyond it.
func TestDrainDatagrams(t *testing.T) {
	buf := make([]byte, DatagramHeader+2*datagramRecord+7)
	t0 := time.UnixMicro(1_764_000_000_123_456)
	if !AppendDatagram(buf, []byte("abc"), t0) || !AppendDatagram(buf, []byte("defg"), t0.Add(1500*time.Microsecond)) {
		t.Fatal("no room for two records that fit")
	}
	if AppendDatagram(buf, []byte("h"), t0) {
		t.Fatal("a third record fitted in a full buffer")
	}
	var got []string
	var at []time.Time
	dropped, err := DrainDatagrams(buf, func(b []byte, arrival time.Time) {
		got = append(got, string(b))
		at = append(at, arrival)
	})
	if err != nil || dropped != 1 {
		t.Fatalf("dropped %d, err %v; want 1, nil", dropped, err)
	}
	if len(got) != 2 || got[0] != "abc" || got[1] != "defg" {
		t.Fatalf("datagrams %q", got)
	}
	if !at[0].Equal(t0) || at[1].Sub(at[0]) != 1500*time.Microsecond {
		t.Fatalf("arrivals %v", at)
	}
	n := 0
	if _, err := DrainDatagrams(buf, func([]byte, time.Time) { n++ }); err != nil || n != 0 {
		t.Fatalf("a drained buffer gave %d datagrams (err %v)", n, err)
	}

	// The datagrams handed over are copies: the writer reuses the buffer.
	AppendDatagram(buf, []byte("xyz"), t0)
	var kept []byte
	DrainDatagrams(buf, func(b []byte, _ time.Time) { kept = b })
	AppendDatagram(buf, []byte("123"), t0)
	if !bytes.Equal(kept, []byte("xyz")) {
		t.Fatalf("a kept datagram changed to %q", kept)
	}

	// A length past the written bytes.
	binary.LittleEndian.PutUint16(buf[DatagramHeader:], 200)
	n = 0
	if _, err := DrainDatagrams(buf, func([]byte, time.Time) { n++ }); !errors.Is(err, ErrDatagramBuffer) || n != 0 {
		t.Fatalf("a record past the end: %d datagrams, err %v", n, err)
	}
	// A header claiming more than the buffer holds.
	binary.LittleEndian.PutUint32(buf[0:], 1<<20)
	if _, err := DrainDatagrams(buf, func([]byte, time.Time) {}); !errors.Is(err, ErrDatagramBuffer) {
		t.Fatalf("an oversized header: err %v", err)
	}
}
