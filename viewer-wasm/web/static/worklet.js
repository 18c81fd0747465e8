// quicast playout: a ring buffer of decoded audio, fed by the player through
// the node's port, played in 128-frame render quanta, with a latency
// controller that holds the buffer at the target the player sets from the
// measured network jitter ({target: samples}).
//
// The buffer never grows past the target for long:
//  - starting (and restarting after running dry) it keeps only the newest
//    target's worth: nothing has been heard, so nothing jumps;
//  - while playing, the excess over target + slack is removed where it
//    cannot be heard — whole quanta of near-silence are skipped — or,
//    without silence, by playing 2 % fast (linear interpolation), a pitch
//    change below what ears notice on speech; hard skips only beyond the
//    4 s ring. A buffer short of target − slack (the target rose) grows by
//    playing 2 % slow.
//
// Each broadcast is an epoch: {reset: epoch} empties the buffer. Reports
// carry the epoch and the read position within it (samples taken from the
// buffer, played, skipped or stretched over — fractional), which the player
// maps back to RTP time, `played`, every sample output since the page
// opened, and `fixed`: [target ms, samples starved, underruns] of the same
// arrivals played at fixed targets (what a lower target would have cost).
class QuicastPlayout extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = 48000 * 4; // 4 s per channel
    this.l = new Float32Array(this.size);
    this.r = new Float32Array(this.size);
    this.read = 0; this.write = 0; // sample positions within the epoch; read is fractional
    this.epoch = 0;
    this.target = 2400;  // 50 ms until the player says otherwise
    this.slack = 480;    // 10 ms above the target are left alone
    this.silence = 0.003; // about -50 dBFS: a quantum this quiet can go unheard
    this.started = false;
    this.played = 0; this.underruns = 0; this.dropped = 0; this.trimmed = 0; this.stretched = 0;
    this.starved = 0;     // silence output after running dry, until playing again
    this.concealed = 0;   // lost packets' time filled in
    this.playing = false; // this epoch has started playing

    // The same arrivals played at fixed targets (ms): the silence each
    // would have played after running dry, and its underruns (reported as
    // `fixed`). What the network and the threads on the way cost in
    // latency, whatever the controller does.
    this.fixed = [20, 30, 40, 50, 60, 80, 100, 120, 150].map(ms => ({target: ms * 48, avail: 0, started: false, playing: false, starved: 0, underruns: 0}));
    this.fixedWrite = 0;
    this.lastReport = 0;
    this.quietRun = 0; // samples since one above 0.2, for the beep detector
    this.shared = null; // {l, r, ctrl, mask, taken}: the player's ring in shared memory
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.ring) {
        // static/player.js quicastPlayout: from now on the sound comes
        // through shared memory, read at every quantum.
        const size = m.size;
        this.shared = {l: new Float32Array(m.ring, 16, size), r: new Float32Array(m.ring, 16 + 4 * size, size),
          ctrl: new Int32Array(m.ring, 0, 4), mask: size - 1, taken: 0};
        this.shared.taken = Atomics.load(this.shared.ctrl, 0);
        return;
      }
      if (m.reset !== undefined) { this.reset(m.reset); return; }
      if (m.target !== undefined) { this.target = Math.max(256, Math.min(m.target, this.size / 2)); return; }
      if (m.conceal) this.conceal(Math.min(m.conceal, 4800));
      if (m.l) this.append(m.l, m.r || m.l, 0, m.l.length);
    };
  }

  reset(epoch) {
    for (const v of this.fixed) { v.avail = 0; v.started = false; v.playing = false; }
    this.fixedWrite = 0;
    this.read = this.write = 0; this.started = false; this.playing = false; this.epoch = epoch;
  }

  // append adds n samples from l and r (at index from, wrapping at their
  // length) to the buffer; past 4 s the oldest go.
  append(l, r, from, n) {
    const len = l.length;
    for (let i = 0; i < n; i++) {
      const k = (this.write + i) % this.size, j = (from + i) % len;
      this.l[k] = l[j]; this.r[k] = r[j];
    }
    this.write += n;
    if (this.write - this.read > this.size - 256) {
      const skip = this.write - (this.size - 256) - this.read;
      this.read += skip; this.dropped += skip;
    }
  }

  // pull takes what the player wrote into the shared ring since the last
  // quantum: ctrl[0] counts the samples written (mod 2^32), ctrl[1] is the
  // epoch and ctrl[2] the count at which it began (static/player.js).
  pull() {
    const s = this.shared;
    const epoch = Atomics.load(s.ctrl, 1);
    if (epoch !== this.epoch) {
      this.reset(epoch);
      s.taken = Atomics.load(s.ctrl, 2);
    }
    const written = Atomics.load(s.ctrl, 0);
    let n = (written - s.taken) >>> 0;
    if (n === 0) return;
    if (n > s.l.length) { // this thread stalled for longer than the ring holds
      this.dropped += n - s.l.length;
      s.taken = (written - s.l.length) >>> 0;
      n = s.l.length;
    }
    this.append(s.l, s.r, s.taken & s.mask, n);
    s.taken = written >>> 0;
  }

  // conceal fills n samples of lost audio with the n before them, faded
  // out: a lost packet sounds like a short dip instead of a click and a
  // gap, and the read position keeps its place on the timeline.
  conceal(n) {
    const prev = this.write >= n; // the ring still holds what was written last, played or not
    for (let i = 0; i < n; i++) {
      const k = (this.write + i) % this.size, src = (this.write - n + i) % this.size;
      const g = prev ? 1 - i / n : 0;
      this.l[k] = this.l[src] * g; this.r[k] = this.r[src] * g;
    }
    this.write += n;
    this.concealed += n;
  }

  sample(ch, pos) {
    const i = Math.floor(pos), f = pos - i;
    const a = ch[i % this.size], b = ch[(i + 1) % this.size];
    return a + (b - a) * f;
  }

  quiet(from, n) {
    for (let i = 0; i < n; i++) {
      const k = Math.floor(from + i) % this.size;
      if (Math.abs(this.l[k]) > this.silence || Math.abs(this.r[k]) > this.silence) return false;
    }
    return true;
  }

  // playFixed plays a quantum of n samples at each fixed target: as
  // process does, it starts at the target and keeps no more than target +
  // slack (the excess skipped at once, as silence is).
  playFixed(n) {
    const w = this.write - this.fixedWrite;
    this.fixedWrite = this.write;
    for (const v of this.fixed) {
      v.avail += w;
      if (!v.started && v.avail >= v.target) { v.avail = v.target; v.started = true; v.playing = true; }
      if (!v.started) { if (v.playing) v.starved += n; continue; }
      if (v.avail < n + 1) { v.started = false; v.underruns++; v.starved += n; continue; }
      v.avail = Math.min(v.avail - n, v.target + this.slack);
    }
  }

  process(inputs, outputs) {
    if (this.shared) this.pull();
    const out = outputs[0];
    const n = out[0].length;
    this.playFixed(n);
    let avail = this.write - this.read;
    if (!this.started && avail >= this.target) {
      // Start at the target: what came before is older than it needs to be.
      const skip = avail - this.target;
      this.read += skip; this.trimmed += skip; avail = this.target;
      this.started = true; this.playing = true;
    }
    if (!this.started || avail < n + 1) {
      if (this.started) { this.underruns++; this.started = false; }
      if (this.playing) this.starved += n;
      for (const ch of out) ch.fill(0);
      this.quietRun += n;
    } else {
      let excess = avail - n - this.target - this.slack;
      // Skip near-silent quanta while there is excess: nobody hears them go.
      while (excess >= n && this.quiet(this.read, n)) {
        this.read += n; this.trimmed += n; excess -= n;
      }
      // Above the target: 2 % fast. Well below it (the target rose, for
      // video that comes late): 2 % slow, until the buffer is there.
      const step = excess > 0 ? 1.02 : (avail < this.target - this.slack ? 0.98 : 1);
      for (let i = 0; i < n; i++) {
        out[0][i] = this.sample(this.l, this.read);
        if (out.length > 1) out[1][i] = this.sample(this.r, this.read);
        this.read += step;
      }
      if (step !== 1) this.stretched += Math.abs(n * (step - 1));
      this.played += n;
      // The test source beeps every second after silence: report each
      // onset's context time, which the player turns into when it was heard
      // (A/V skew measured against the flash it sees).
      const o = out[0];
      for (let i = 0; i < n; i++) {
        if (Math.abs(o[i]) > 0.2) {
          if (this.quietRun >= 2400) this.port.postMessage({beep: currentTime + i / sampleRate});
          this.quietRun = 0;
        } else {
          this.quietRun++;
        }
      }
    }
    if (currentFrame - this.lastReport >= 2400) {
      this.lastReport = currentFrame;
      // pos is the read position at the end of this quantum, context
      // time currentTime + n / sampleRate.
      this.port.postMessage({epoch: this.epoch, pos: this.read, at: currentTime + n / sampleRate, played: this.played, underruns: this.underruns,
        starved: this.starved, dropped: this.dropped, trimmed: Math.round(this.trimmed + this.stretched), buffered: this.write - this.read,
        target: this.target, fixed: this.fixed.map(v => [v.target / 48, v.starved, v.underruns])});
    }
    return true;
  }
}
registerProcessor('quicast-playout', QuicastPlayout);
