//go:build linux && cgo

package main

import "testing"

// A frame's worth of memory (a 1280×720 texture) comes from the heap, not
// from a mapping of its own that is faulted in again for every frame;
// only what is larger than the threshold still gets one.
func TestMallocKeepsFrameBuffers(t *testing.T) {
	mapped, known := mappedAlone(1280 * 720 * 4)
	if !known {
		t.Skip("the C library does not count its mappings (not glibc)")
	}
	if mapped {
		t.Error("a 3.7 MB block got a mapping of its own")
	}
	if mapped, _ := mappedAlone(2 * mmapThreshold); !mapped {
		t.Errorf("a %d-byte block did not get a mapping of its own: the counting does not work", 2*mmapThreshold)
	}
}
