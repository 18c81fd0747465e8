// quicast audio decoding worker: a player's AudioDecoder (W3C WebCodecs)
// off the page's main thread, writing the sound straight into the playout
// ring (static/ring.js). Chromium's AudioDecoder decodes one packet at a
// time, each a round trip through the thread that owns it: on a saturated
// main thread (a four-person call on 2 cores) it got through 11-17 of the
// 100 packets a second of a participant. Here the round trips go through
// this worker's own, idle, event loop.
//
// In:  {ring, size, stats} once (the playout ring; stats an Int32Array's
//      SharedArrayBuffer: outputs so far, packets in the decoder, errors,
//      packets given up for the decoder being behind, then the gaps between
//      packet messages coming in over 50 ms and over 100 ms, and the same
//      between outputs);
//      {configure: config}; {decoderReset: true} (a new broadcast: what is
//      in the decoder is dropped); {epoch} (the ring's new epoch);
//      {packets: ArrayBuffer} records of float64 timestamp (µs), int32
//      conceal (samples of lost audio to fill in before the packet's sound;
//      −1: not played), int32 samples (its length, as planned), uint16
//      length, then its bytes; little endian.
// The outputs come in decode order; each is played as its packet's record
// says. A decoder error drops what was in it: its planned sound is filled
// in (concealed) so that the ring keeps its place on the player's timeline,
// and a new decoder is configured as the last one was.
//
// Behind: when packets come while more than maxBehind of sound is still in
// the decoder (this worker, or the browser's thread under the decoder, did not
// run for that long: a saturated machine), what is in it is sound the
// worklet would skip anyway, being older than its whole buffer: it is
// dropped (reset, its time concealed) and the new packets decoded at once.
// Dropping the new ones instead kept the decoder on stale sound while
// fresh sound was thrown away.
importScripts('/static/ring.js');

const maxBehind = 14400; // samples (48 kHz) in the decoder: 300 ms, the most the playout target holds

let writer = null, stats = null, dec = null, config = null;
const plan = []; // conceal, samples of each packet in the decoder
let head = 0;

// gap counts the gap since the last event in stats[i] (over 50 ms) and
// stats[i + 1] (over 100 ms).
const last = [0, 0];
const gap = (k, i) => {
  const now = performance.now(), d = now - last[k];
  if (last[k] && stats && stats.length >= 8) {
    if (d > 50) Atomics.add(stats, i, 1);
    if (d > 100) Atomics.add(stats, i + 1, 1);
  }
  last[k] = now;
};

const inDecoder = () => (plan.length - head) / 2;
// behind returns the sound in the decoder, in samples.
const behind = () => {
  let n = 0;
  for (let i = head; i < plan.length; i += 2) n += Math.max(plan[i], 0) + plan[i + 1];
  return n;
};
const queued = () => { if (stats) Atomics.store(stats, 1, dec ? inDecoder() : 0); };

// lose drops what is in the decoder, its planned sound concealed; when
// behind, counted as given up for the decoder being behind.
const lose = (behind) => {
  let lost = 0;
  for (let i = head; i < plan.length; i += 2) if (plan[i] >= 0) lost += plan[i] + plan[i + 1];
  if (behind && stats) Atomics.add(stats, 3, inDecoder());
  plan.length = 0; head = 0;
  if (writer && lost > 0) writer.fill(lost);
};

const make = () => {
  dec = new AudioDecoder({
    output: (data) => {
      if (stats) Atomics.add(stats, 0, 1);
      gap(1, 6);
      const c = head < plan.length ? plan[head] : -1;
      const s = head < plan.length ? plan[head + 1] : 0;
      head += 2;
      if (head >= plan.length) { plan.length = 0; head = 0; }
      if (c >= 0 && writer) writer.play(data, c); else data.close();
      queued();
    },
    error: () => {
      if (stats) Atomics.add(stats, 2, 1);
      lose(false);
      make();
    },
  });
  if (config) dec.configure(config);
  queued();
};

onmessage = (e) => {
  const m = e.data;
  if (m.ring) {
    writer = self.quicastRingWriter(m.ring, m.size);
    stats = new Int32Array(m.stats);
    return;
  }
  if (m.configure) {
    config = m.configure;
    if (!dec || dec.state === 'closed') make(); else dec.configure(config);
    return;
  }
  if (m.decoderReset) {
    if (dec && dec.state !== 'closed') dec.reset();
    config = null;
    plan.length = 0; head = 0;
    queued();
    return;
  }
  if (m.epoch !== undefined) {
    if (writer) writer.reset(m.epoch);
    return;
  }
  if (m.packets) {
    gap(0, 4);
    const dv = new DataView(m.packets), bytes = new Uint8Array(m.packets);
    if (dec && dec.state === 'configured' && behind() >= maxBehind) {
      dec.reset(); // its outputs not delivered yet are dropped
      lose(true);
      dec.configure(config);
    }
    for (let o = 0; o + 18 <= dv.byteLength;) {
      const timestamp = dv.getFloat64(o, true), c = dv.getInt32(o + 8, true), s = dv.getInt32(o + 12, true);
      const n = dv.getUint16(o + 16, true);
      const data = bytes.subarray(o + 18, o + 18 + n);
      o += 18 + n;
      if (!dec || dec.state !== 'configured') { // nothing to decode with: its time filled in
        if (c >= 0 && writer) writer.fill(c + s);
        continue;
      }
      dec.decode(new EncodedAudioChunk({type: 'key', timestamp, data}));
      plan.push(c, s);
    }
    queued();
  }
};
