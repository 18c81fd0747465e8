// Watch page glue: checks that the browser can play, sets up the audio
// output (AudioContext + AudioWorklet + volume), the player controls and
// the stats overlay, then starts the Go player, which keeps body's
// data-state and data-muted up to date for the style sheet.
(async () => {
  // In a room page each participant is this page in a frame: picture and
  // sound only, the room page has the controls.
  if (new URLSearchParams(location.search).has('embed')) document.body.classList.add('embed');
  const status = document.getElementById('status');
  const player = document.getElementById('player');
  const statsBox = document.getElementById('stats');
  document.getElementById('stream-name').textContent =
    decodeURIComponent(location.pathname.replace(/^\/watch\//, ''));

  // WebTransport carries the stream, WebCodecs decodes it, an AudioWorklet
  // plays it: without any of them nothing can play.
  const missing = [];
  if (!('WebTransport' in window)) missing.push('WebTransport');
  if (!('VideoDecoder' in window) || !('AudioDecoder' in window)) missing.push('WebCodecs');
  if (!('AudioWorkletNode' in window)) missing.push('AudioWorklet');
  if (!('WebAssembly' in window)) missing.push('WebAssembly');
  if (missing.length) {
    document.body.dataset.state = 'error';
    status.textContent = 'This browser cannot play quicast streams: it has no ' + missing.join(', ') +
      '. Use a current Chrome, Edge or Firefox on a computer or Android. ' +
      'Safari and every browser on iPhone and iPad lack WebTransport or WebCodecs today.';
    return;
  }

  // The player downloads and compiles (preloaded by the page's head) while
  // the render worker and the audio output are set up.
  const marks = window.quicastMarks = {};
  const go = new Go();
  const wasm = WebAssembly.instantiateStreaming(fetch('/static/main.wasm'), go.importObject)
    .then((r) => { marks.wasmCompiled = performance.now(); return r; });

  // The render worker draws the frames on the canvas (static/render.js).
  // Started now, not by the player once it runs, its thread is up before
  // the first picture is decoded.
  const canvas = document.getElementById('video');
  if (canvas.transferControlToOffscreen && window.Worker) {
    const off = canvas.transferControlToOffscreen();
    const worker = new Worker('/static/render.js');
    worker.postMessage({canvas: off}, [off]);
    window.quicastRenderer = worker;
  }
  document.getElementById('toggle-stats').addEventListener('click', () => {
    statsBox.hidden = !statsBox.hidden;
  });
  document.getElementById('fullscreen').addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (player.requestFullscreen) player.requestFullscreen().catch(() => {});
    else if (player.webkitRequestFullscreen) player.webkitRequestFullscreen();
  });

  try {
    const ctx = new AudioContext({sampleRate: 48000, latencyHint: 'interactive'});
    await ctx.audioWorklet.addModule('/static/worklet.js');
    const node = new AudioWorkletNode(ctx, 'quicast-playout', {numberOfInputs: 0, outputChannelCount: [2]});
    const gain = ctx.createGain();
    node.connect(gain).connect(ctx.destination);
    window.quicastAudio = {ctx, node, gain, playout: window.quicastPlayout(node)};
    // A stream without video shows its audio level instead.
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    node.connect(analyser);
    const level = window.quicastPeakLevel(analyser);
    const bar = document.getElementById('level-bar');
    // Drawn at the display's rate only while it shows: a loop of
    // animation frames keeps the page's main thread and compositor awake.
    let metering = false;
    const meter = () => {
      metering = document.body.dataset.video === 'false';
      if (!metering) return;
      const db = level();
      bar.style.width = Math.max(0, Math.min(100, (db + 60) / 60 * 100)) + '%';
      requestAnimationFrame(meter);
    };
    new MutationObserver(() => { if (!metering) meter(); }).observe(document.body, {attributes: true, attributeFilter: ['data-video']});
    meter();
    const volume = document.getElementById('volume');
    const saved = parseFloat(localStorage.getItem('quicast.volume'));
    if (saved >= 0 && saved <= 1) volume.value = saved;
    gain.gain.value = volume.value;
    volume.addEventListener('input', () => {
      gain.gain.value = volume.value;
      localStorage.setItem('quicast.volume', volume.value);
      if (ctx.state !== 'running') ctx.resume();
    });
    const unmute = () => ctx.resume().catch(() => {});
    document.getElementById('unmute').addEventListener('click', unmute);
    // Any click on the picture counts as the gesture autoplay rules ask for.
    player.addEventListener('click', (e) => { if (e.target.tagName === 'CANVAS') unmute(); });
    if (ctx.state !== 'running') {
      try { await Promise.race([ctx.resume(), new Promise(r => setTimeout(r, 300))]); } catch (e) {}
    }
  } catch (e) {
    console.warn('quicast: no audio output:', e);
  }
  marks.audioReady = performance.now();
  const res = await wasm;
  marks.wasmReady = performance.now();
  window.quicastMemory = res.instance.exports.mem; // static/player.js quicastReadRing writes into it
  go.run(res.instance);
})().catch(e => {
  document.body.dataset.state = 'error';
  document.getElementById('status').textContent = 'The player failed to start: ' + e.message;
});
