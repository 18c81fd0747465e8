package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/quicast/quicast/protocol"
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

// TestBrowserDecodesMergedOpus: Chromium's AudioDecoder (W3C WebCodecs)
// decodes a packet of protocol.OpusMerge to the very samples it gives for
// its packets one by one: six 10 ms packets of its own AudioEncoder, each
// run of one configuration merged.
func TestBrowserDecodesMergedOpus(t *testing.T) {
	r := startRelay(t)
	ctx := newBrowser(t)
	run(t, ctx, 20*time.Second, chromedp.Navigate(r.base()+"/login"))
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	encoded, err := chromedp.Run(c, chromedp.Evaluate[[]string](`(async () => {
  const out = [];
  const enc = new AudioEncoder({output: (c) => { const b = new Uint8Array(c.byteLength); c.copyTo(b); out.push(btoa(String.fromCharCode(...b))); },
    error: (e) => { throw e; }});
  enc.configure({codec: 'opus', sampleRate: 48000, numberOfChannels: 1, bitrate: 32000, opus: {frameDuration: 10000}});
  const pcm = new Float32Array(480 * 6);
  for (let i = 0; i < pcm.length; i++) pcm[i] = 0.3 * Math.sin(2 * Math.PI * 440 * i / 48000);
  enc.encode(new AudioData({format: 'f32-planar', sampleRate: 48000, numberOfFrames: pcm.length, numberOfChannels: 1, timestamp: 0, data: pcm}));
  await enc.flush();
  return out;
})()`, chromedp.EvalAwaitPromise))
	if err != nil || len(encoded) < 6 {
		t.Fatalf("the page's AudioEncoder made %d packets of 6 (%v)", len(encoded), err)
	}
	var raw [][]byte
	for _, e := range encoded[:6] {
		b, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	// As a player does: runs of packets of one configuration merged.
	var merged []string
	var tocs []byte
	most := 0
	for i := 0; i < len(raw); {
		j := i + 1
		for j < len(raw) && raw[j][0] == raw[i][0] {
			j++
		}
		m, ok := protocol.OpusMerge(nil, raw[i:j]...)
		if !ok {
			t.Fatalf("the browser's packets %d-%d (TOC %#x) not merged", i, j-1, raw[i][0])
		}
		merged = append(merged, base64.StdEncoding.EncodeToString(m))
		tocs = append(tocs, raw[i][0])
		most = max(most, j-i)
		i = j
	}
	t.Logf("6 packets of the browser's AudioEncoder, TOC bytes %x: merged into %d", tocs, len(merged))
	if most < 2 {
		t.Fatalf("no two packets of one configuration in a row (TOC bytes %x): nothing merged to decode", tocs)
	}
	type result struct {
		Error       string
		One, Merged int
		Differ      int
	}
	res, err := chromedp.Run(c, chromedp.Evaluate[result](`(async (lists) => {
  const decode = async (list) => {
    const out = [];
    const dec = new AudioDecoder({output: (d) => {
      const a = new Float32Array(d.numberOfFrames); d.copyTo(a, {planeIndex: 0, format: 'f32-planar'}); d.close(); out.push(...a);
    }, error: (e) => { out.error = String(e); }});
    dec.configure({codec: 'opus', sampleRate: 48000, numberOfChannels: 1});
    list.forEach((b, i) => dec.decode(new EncodedAudioChunk({type: 'key', timestamp: i * 10000,
      data: Uint8Array.from(atob(b), c => c.charCodeAt(0))})));
    await dec.flush();
    return out.error ? {error: out.error} : {samples: out};
  };
  const one = await decode(lists[0]), merged = await decode(lists[1]);
  if (one.error || merged.error) return {error: one.error || merged.error};
  let differ = 0;
  for (let i = 0; i < Math.max(one.samples.length, merged.samples.length); i++) if (one.samples[i] !== merged.samples[i]) differ++;
  return {one: one.samples.length, merged: merged.samples.length, differ};
})(`+mustJSON(t, [][]string{encoded[:6], merged})+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Error != "" || res.One != 2880 || res.Merged != res.One || res.Differ != 0 {
		t.Fatalf("decoded %d samples one by one, %d merged, %d differ (error %q); want 2880 each, none differing", res.One, res.Merged, res.Differ, res.Error)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
