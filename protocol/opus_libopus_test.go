//go:build cgo

package protocol

import (
	"math"
	"slices"
	"testing"

	"gopkg.in/hraban/opus.v2"
)

// TestOpusMergeDecodesAsItsParts: libopus decodes a merged packet to the
// very samples it gives for its packets one by one.
func TestOpusMergeDecodesAsItsParts(t *testing.T) {
	const rate, frame = 48000, 480 // 10 ms
	enc, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for i := range 6 {
		pcm := make([]int16, frame)
		for j := range pcm {
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*440*float64(i*frame+j)/rate))
		}
		buf := make([]byte, 1500)
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, buf[:n])
	}
	decode := func(pkts ...[]byte) []int16 {
		dec, err := opus.NewDecoder(rate, 1)
		if err != nil {
			t.Fatal(err)
		}
		var out []int16
		for _, p := range pkts {
			pcm := make([]int16, 5760)
			n, err := dec.Decode(p, pcm)
			if err != nil {
				t.Fatalf("decode %x: %v", p[:min(len(p), 4)], err)
			}
			out = append(out, pcm[:n]...)
		}
		return out
	}
	one := decode(pkts...)
	first, ok := OpusMerge(nil, pkts[:4]...)
	if !ok {
		t.Fatalf("libopus's 10 ms packets (TOC %#x) not merged", pkts[0][0])
	}
	merged := decode(first, pkts[4], pkts[5])
	if len(one) != 6*frame || !slices.Equal(one, merged) {
		t.Fatalf("merged: %d samples, %d one by one; the samples differ", len(merged), len(one))
	}
}
