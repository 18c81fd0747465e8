//go:build linux && cgo

package main

/*
#include <malloc.h>
#include <stdlib.h>

// mapped_alone reports whether a block of n bytes gets a mapping of its
// own (glibc counts those in hblks): 1 or 0, -1 where it cannot tell.
static int mapped_alone(size_t n) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	size_t before = mallinfo2().hblks;
	char *volatile p = malloc(n); // volatile: the compiler may drop an unused malloc
	size_t after = mallinfo2().hblks;
	free(p);
	return after > before;
#elif defined(__GLIBC__)
	int before = mallinfo().hblks;
	char *volatile p = malloc(n);
	int after = mallinfo().hblks;
	free(p);
	return after > before;
#else
	return -1;
#endif
}
*/
import "C"

// Every frame of a call gives the C libraries under the window new large
// buffers (a texture of each new picture in Mesa, libvpx's frames) and
// takes them back. glibc's malloc serves blocks that large with a mapping
// of their own and unmaps them when freed, so each frame's memory is
// faulted in page by page again: with software OpenGL (Mesa's llvmpipe)
// 4–11 % of the window's time went to those page faults (perf, a
// three-person call). Served from the heap and kept there once freed, the
// same memory is used again. The blocks are a few MB (a 1280×720 texture is
// 3.7 MB); what is kept is trimmed past trimThreshold.
const (
	mmapThreshold = 32 << 20 // bytes
	trimThreshold = 128 << 20
)

func init() {
	C.mallopt(C.M_MMAP_THRESHOLD, mmapThreshold)
	C.mallopt(C.M_TRIM_THRESHOLD, trimThreshold)
}

// mappedAlone reports whether malloc gives a block of n bytes a mapping of
// its own; known is false where the C library does not say (not glibc).
func mappedAlone(n int) (mapped, known bool) {
	r := C.mapped_alone(C.size_t(n))
	return r == 1, r >= 0
}
