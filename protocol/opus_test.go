package protocol

import "testing"

func TestOpusSamples(t *testing.T) {
	toc := func(config, code byte) byte { return config<<3 | code }
	for _, c := range []struct {
		name string
		p    []byte
		want int
	}{
		{"CELT FB 10 ms, one frame", []byte{toc(30, 0), 0xaa}, 480},
		{"CELT FB 20 ms, DTX (TOC only)", []byte{toc(31, 0)}, 960},
		{"CELT NB 2.5 ms", []byte{toc(16, 0), 1}, 120},
		{"CELT WB 5 ms, two equal frames", []byte{toc(21, 1), 1, 2}, 480},
		{"SILK WB 60 ms", []byte{toc(11, 0), 1}, 2880},
		{"SILK NB 40 ms, two frames of different sizes", []byte{toc(2, 2), 1, 1, 1}, 3840},
		{"hybrid FB 20 ms", []byte{toc(15, 0), 1}, 960},
		{"code 3: six 20 ms CELT frames", []byte{toc(31, 3), 6, 1}, 5760},
		{"code 3: padding and VBR flags do not count", []byte{toc(18, 3), 0xc0 | 3, 0}, 1440},
	} {
		got, err := OpusSamples(c.p)
		if err != nil || got != c.want {
			t.Errorf("%s: OpusSamples(% x) = %d, %v; want %d", c.name, c.p, got, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		p    []byte
	}{
		{"empty", nil},
		{"code 3 without its count", []byte{toc(31, 3)}},
		{"code 3 with no frames", []byte{toc(31, 3), 0}},
		{"over 120 ms: three 60 ms SILK frames", []byte{toc(3, 3), 3}},
		{"over 120 ms: 49 2.5 ms frames", []byte{toc(16, 3), 49}},
	} {
		if n, err := OpusSamples(c.p); err == nil {
			t.Errorf("%s: OpusSamples(% x) = %d, want an error", c.name, c.p, n)
		}
	}
}

func TestOpusMerge(t *testing.T) {
	toc := byte(30 << 3) // CELT FB 10 ms, code 0
	frame := func(n int, b byte) []byte {
		p := []byte{toc}
		for range n {
			p = append(p, b)
		}
		return p
	}
	a, b, dtx := frame(10, 0xa1), frame(300, 0xb2), frame(0, 0)
	got, ok := OpusMerge([]byte{0xee}, a, b, dtx)
	if !ok {
		t.Fatal("three 10 ms frames of one configuration not merged")
	}
	// dst kept; TOC code 3; VBR, 3 frames; lengths 10 and 300 (252 + 4×12); frames.
	want := append([]byte{0xee, toc | 3, 0x83, 10, 252, 12}, a[1:]...)
	want = append(want, b[1:]...)
	if string(got) != string(want) {
		t.Fatalf("merged\n%x\nwant\n%x", got, want)
	}
	if n, err := OpusSamples(got[1:]); err != nil || n != 1440 {
		t.Fatalf("merged packet: %d samples (%v), want 1440", n, err)
	}
	if got, ok := OpusMerge(nil, a); !ok || string(got) != string(a) {
		t.Fatalf("one packet: %x %v, want it as it is", got, ok)
	}
	for _, c := range []struct {
		name string
		pkts [][]byte
	}{
		{"none", nil},
		{"configurations differ", [][]byte{a, {29 << 3, 1}}},
		{"stereo and mono", [][]byte{a, {toc | 4, 1}}},
		{"a code 1 packet", [][]byte{a, {toc | 1, 1, 2}}},
		{"an empty packet", [][]byte{a, {}}},
		{"70 ms", [][]byte{a, a, a, a, a, a, a}},
	} {
		if got, ok := OpusMerge([]byte{1}, c.pkts...); ok || len(got) != 1 {
			t.Errorf("%s: merged (%x)", c.name, got)
		}
	}
}
