// quicast playout: a ring buffer of decoded audio, fed by the player through
// the node's port, played in 128-frame render quanta. It starts once it holds
// the target delay, reports how many samples it played and how many quanta
// ran dry, and drops the oldest audio when it holds far more than the target,
// so latency cannot creep up.
//
// Each broadcast is an epoch: {reset: epoch} empties the buffer, and the
// reports carry the epoch and the read position within it (samples taken
// from the buffer, played or skipped), which the player maps back to RTP
// time. `played` counts every sample played since the page opened.
class QuicastPlayout extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = 48000 * 4; // 4 s per channel
    this.l = new Float32Array(this.size);
    this.r = new Float32Array(this.size);
    this.read = 0; this.write = 0; // sample counters within the epoch
    this.epoch = 0;
    this.target = 2400;  // 50 ms before playback starts
    this.max = 48000 * 0.4; // above 400 ms buffered, skip ahead
    this.started = false;
    this.played = 0; this.underruns = 0; this.dropped = 0;
    this.lastReport = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.reset !== undefined) {
        this.read = this.write = 0; this.started = false; this.epoch = m.reset;
        return;
      }
      if (m.target) { this.target = m.target; return; }
      const l = m.l, r = m.r || m.l;
      for (let i = 0; i < l.length; i++) {
        const k = (this.write + i) % this.size;
        this.l[k] = l[i]; this.r[k] = r[i];
      }
      this.write += l.length;
      if (this.write - this.read > this.size) {
        this.dropped += this.write - this.size - this.read;
        this.read = this.write - this.size;
      }
    };
  }
  process(inputs, outputs) {
    const out = outputs[0];
    const n = out[0].length;
    let avail = this.write - this.read;
    if (!this.started && avail >= this.target) this.started = true;
    if (this.started && avail > this.max) {
      const skip = avail - this.target;
      this.read += skip; this.dropped += skip; avail = this.target;
    }
    if (!this.started || avail < n) {
      if (this.started) { this.underruns++; this.started = avail >= this.target; }
      for (const ch of out) ch.fill(0);
    } else {
      for (let i = 0; i < n; i++) {
        const k = (this.read + i) % this.size;
        out[0][i] = this.l[k];
        if (out.length > 1) out[1][i] = this.r[k];
      }
      this.read += n; this.played += n;
    }
    if (currentFrame - this.lastReport >= 2400) {
      this.lastReport = currentFrame;
      this.port.postMessage({epoch: this.epoch, pos: this.read, played: this.played, underruns: this.underruns,
        dropped: this.dropped, buffered: this.write - this.read});
    }
    return true;
  }
}
registerProcessor('quicast-playout', QuicastPlayout);
