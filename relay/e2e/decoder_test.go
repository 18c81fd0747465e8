package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// decoderBacklog runs in a relay page (cross-origin isolated, for the
// shared ring): 50 packets of 10 ms Opus, encoded there, go to a decoding
// worker (static/decoder.js) in two batches posted at once — 40, then 10 —
// as a player does after it could not run for 400 ms. The answer is the
// worker's ring and counters once all 500 ms are written.
const decoderBacklog = `(async () => {
  const chunks = [];
  const enc = new AudioEncoder({
    output: (c) => { const b = new Uint8Array(c.byteLength); c.copyTo(b); chunks.push(b); },
    error: (e) => { throw e; },
  });
  enc.configure({codec: 'opus', sampleRate: 48000, numberOfChannels: 1, bitrate: 32000, opus: {frameDuration: 10000}});
  const pcm = new Float32Array(480 * 60);
  for (let i = 0; i < pcm.length; i++) pcm[i] = 0.3 * Math.sin(2 * Math.PI * 440 * i / 48000);
  enc.encode(new AudioData({format: 'f32-planar', sampleRate: 48000, numberOfFrames: pcm.length, numberOfChannels: 1, timestamp: 0, data: pcm}));
  await enc.flush();
  if (chunks.length < 50) return {chunks: chunks.length};
  const size = 1 << 18;
  const ring = new SharedArrayBuffer(16 + 8 * size);
  const stats = new Int32Array(new SharedArrayBuffer(32));
  const w = new Worker('/static/decoder.js');
  w.postMessage({ring, size, stats: stats.buffer});
  w.postMessage({configure: {codec: 'opus', sampleRate: 48000, numberOfChannels: 1}});
  // Records as static/player.js makes them: timestamp, conceal, samples,
  // length, bytes.
  const batch = (from, to) => {
    let n = 0;
    for (let i = from; i < to; i++) n += 18 + chunks[i].length;
    const buf = new ArrayBuffer(n), dv = new DataView(buf), u8 = new Uint8Array(buf);
    let o = 0;
    for (let i = from; i < to; i++) {
      dv.setFloat64(o, i * 10000, true); dv.setInt32(o + 8, 0, true); dv.setInt32(o + 12, 480, true);
      dv.setUint16(o + 16, chunks[i].length, true); u8.set(chunks[i], o + 18);
      o += 18 + chunks[i].length;
    }
    return buf;
  };
  const b1 = batch(0, 40), b2 = batch(40, 50);
  w.postMessage({packets: b1}, [b1]);
  w.postMessage({packets: b2}, [b2]);
  const ctrl = new Int32Array(ring, 0, 4);
  const t0 = performance.now();
  while ((Atomics.load(ctrl, 0) < 50 * 480 || Atomics.load(stats, 1) > 0) && performance.now() - t0 < 20000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  w.terminate();
  return {chunks: chunks.length, written: Atomics.load(ctrl, 0), outputs: Atomics.load(stats, 0),
    errors: Atomics.load(stats, 2), behind: Atomics.load(stats, 3)};
})()`

// TestDecoderWorkerDropsItsBacklog: a decoding worker handed new packets
// while 300 ms or more of sound is still in its decoder (it, or the
// browser under it, did not run for that long) drops those old ones — counted, their time
// concealed so that the ring keeps its place on the timeline — and decodes
// the new ones: all 500 ms are in the ring, the last 10 packets decoded.
func TestDecoderWorkerDropsItsBacklog(t *testing.T) {
	r := startRelay(t)
	ctx := newBrowser(t)
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/login"))
	if ok, err := eval[bool](ctx, `crossOriginIsolated`); err != nil || !ok {
		t.Fatalf("the relay's page is not cross-origin isolated (%v)", err)
	}
	type result struct {
		Chunks, Written, Outputs, Errors, Behind int
	}
	c, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	res, err := chromedp.Run(c, chromedp.Evaluate[result](decoderBacklog, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	switch {
	case res.Chunks < 50:
		t.Fatalf("the page's AudioEncoder made %d packets of the 60 it was given", res.Chunks)
	case res.Written != 50*480:
		t.Errorf("ring written to %d samples, want 500 ms (%d): the dropped packets' time must be concealed", res.Written, 50*480)
	case res.Behind < 30 || res.Behind > 40:
		t.Errorf("%d packets given up for the decoder behind, want the first batch's 30-40", res.Behind)
	case res.Outputs+res.Behind != 50 || res.Errors != 0:
		t.Errorf("%d decoded and %d given up (%d errors), want 50 in all", res.Outputs, res.Behind, res.Errors)
	}
}
