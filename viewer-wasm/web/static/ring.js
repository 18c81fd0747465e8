// quicastRingWriter writes a player's decoded sound into its playout ring:
// a SharedArrayBuffer that the playout worklet (static/worklet.js) reads at
// every render quantum. Used by the page (static/player.js quicastPlayout) or,
// where it decodes off the main thread, by static/decoder.js; only one of
// them writes a ring.
//
// The ring: 16 bytes of control (Int32: samples written mod 2^32, the
// epoch, the count when the epoch began), then `size` float32 samples of
// the left channel and `size` of the right; size a power of two.
//  - play(audioData, conceal) fills `conceal` samples of lost audio first
//    (the ones before, faded out), then the AudioData's planes (f32-planar;
//    a mono one twice), and closes the AudioData;
//  - fill(n) conceals n samples of lost audio alone;
//  - reset(epoch) starts a new broadcast's buffer.
self.quicastRingWriter = (ring, size) => {
  const mask = size - 1;
  const ctrl = new Int32Array(ring, 0, 4);
  const l = new Float32Array(ring, 16, size), r = new Float32Array(ring, 16 + 4 * size, size);
  const tmp = new Float32Array(4800);
  let written = Atomics.load(ctrl, 0);
  // put copies plane p of data (n samples) into ch from the write position.
  const put = (ch, data, p, n) => {
    const k = written & mask;
    if (k + n <= size) {
      data.copyTo(ch.subarray(k, k + n), {planeIndex: p, format: 'f32-planar'});
      return;
    }
    const t = n <= tmp.length ? tmp.subarray(0, n) : new Float32Array(n);
    data.copyTo(t, {planeIndex: p, format: 'f32-planar'});
    ch.set(t.subarray(0, size - k), k);
    ch.set(t.subarray(size - k), 0);
  };
  // conceal repeats the last n samples faded out (at most 100 ms at a
  // time, as the worklet does).
  const conceal = (n) => {
    while (n > 0) {
      const m = Math.min(n, 4800);
      for (let i = 0; i < m; i++) {
        const k = (written + i) & mask, src = (written - m + i) & mask, g = 1 - i / m;
        l[k] = l[src] * g; r[k] = r[src] * g;
      }
      written = (written + m) | 0;
      n -= m;
    }
  };
  return {
    play(data, c) {
      if (c > 0) conceal(Math.min(c, 4800));
      const n = data.numberOfFrames;
      put(l, data, 0, n);
      put(r, data, data.numberOfChannels > 1 ? 1 : 0, n);
      data.close();
      written = (written + n) | 0;
      Atomics.store(ctrl, 0, written);
    },
    fill(n) {
      conceal(n);
      Atomics.store(ctrl, 0, written);
    },
    reset(epoch) {
      Atomics.store(ctrl, 2, written);
      Atomics.store(ctrl, 1, epoch);
    },
  };
};
