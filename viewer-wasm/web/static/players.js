// quicast players worker: the room page's players — each participant's
// session, jitter buffer, decoding and lip-sync — run here by the same Go
// program as the page's (room.go, runPlayersWorker), so that none of it
// waits for the page's main thread.
//
// In:  {module} once: the program's compiled WebAssembly.Module;
//      {watch: id, stream, next, canvas, port, ring, size}: play stream
//        on the tile id (next: the page's path, to come back to after a
//        login) — canvas its OffscreenCanvas, port its playout worklet
//        node's port, ring and size the playout's shared ring
//        (static/player.js quicastPlayout);
//      {stop: id}, {resetStats: id};
//      {audio: {state, outputLatency, baseLatency, contextTime,
//        performanceTime}}: the page's AudioContext, its output timestamp's
//        performanceTime in ms since the epoch (timeOrigin + performanceTime);
//      {clock} once, where the browser has MediaStreamTrackProcessor: a
//        silent track's readable, read here for the priority Chromium gives
//        the thread of a live track's reader (static/room.js says why).
// Out: {id, status} and {id, dataset: {name: value}} as the tile changes;
//      {stats: {id: figures}} every 250 ms; {login: next} when the relay
//      wants a login first; {ready: true} once the program runs; {log}
//      for what it prints.
importScripts('/static/wasm_exec.js', '/static/ring.js', '/static/player.js');

// The AudioContext as the page last reported it: what the players ask of
// theirs (state, latencies, getOutputTimestamp).
const ctx = {
  state: 'suspended', outputLatency: 0, baseLatency: 0, contextTime: 0, performanceTime: 0,
  getOutputTimestamp() {
    return {contextTime: this.contextTime, performanceTime: this.performanceTime - performance.timeOrigin};
  },
};
const tiles = new Map(); // id → the player's {stop, stats, resetStats}
const waiting = [];      // watch messages before the program runs

// tile stands for the page's tile id: setting its status's textContent or
// a name in its root's dataset passes the change on.
const tile = (id) => ({
  status: {
    text: '',
    get textContent() { return this.text; },
    set textContent(v) { this.text = v; postMessage({id, status: v}); },
  },
  root: {
    dataset: new Proxy({}, {
      set(d, k, v) { d[k] = String(v); postMessage({id, dataset: {[k]: String(v)}}); return true; },
    }),
  },
});

const watch = (m) => {
  const t = tile(m.watch);
  const playout = Object.assign({shared: true, ring: m.ring, size: m.size}, self.quicastRingWriter(m.ring, m.size));
  const player = self.quicastWatch({stream: m.stream, next: m.next, root: t.root, canvas: m.canvas, status: t.status,
    audio: {ctx, node: {port: m.port, disconnect() { m.port.close(); }}, playout}});
  tiles.set(m.watch, player);
};

self.quicastLogin = (next) => postMessage({login: next});
self.quicastPlayersReady = () => {
  postMessage({ready: true});
  for (const m of waiting.splice(0)) watch(m);
  setInterval(() => {
    const stats = {};
    for (const [id, p] of tiles) stats[id] = p.stats();
    postMessage({stats});
  }, 250);
};

onmessage = async (e) => {
  const m = e.data;
  if (m.audio) { Object.assign(ctx, m.audio); return; }
  if (m.clock) {
    const reader = m.clock.getReader();
    (async () => {
      try {
        for (;;) {
          const {value, done} = await reader.read();
          if (done) return;
          value.close();
        }
      } catch (e) {
        // the page closed its AudioContext: nothing more to read
      }
    })();
    return;
  }
  if (m.watch !== undefined) {
    if (self.quicastWatch) watch(m); else waiting.push(m);
    return;
  }
  if (m.stop !== undefined) {
    const p = tiles.get(m.stop);
    if (p) { p.stop(); tiles.delete(m.stop); }
    return;
  }
  if (m.resetStats !== undefined) {
    const p = tiles.get(m.resetStats);
    if (p) p.resetStats();
    return;
  }
  if (m.module) {
    self.quicastForwardConsole();
    const go = new Go();
    const instance = await WebAssembly.instantiate(m.module, go.importObject);
    self.quicastMemory = instance.exports.mem; // static/player.js quicastReadRing writes into it
    go.run(instance);
  }
};
