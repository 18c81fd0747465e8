// Watch page glue: sets up the audio output (AudioContext + AudioWorklet),
// the unmute control and the stats overlay, then starts the Go player.
(async () => {
  const status = document.getElementById('status');
  const unmute = document.getElementById('unmute');
  const statsBox = document.getElementById('stats');
  document.getElementById('toggle-stats').addEventListener('click', () => {
    statsBox.hidden = !statsBox.hidden;
  });
  try {
    const ctx = new AudioContext({sampleRate: 48000, latencyHint: 'interactive'});
    await ctx.audioWorklet.addModule('/static/worklet.js');
    const node = new AudioWorkletNode(ctx, 'quicast-playout', {numberOfInputs: 0, outputChannelCount: [2]});
    node.connect(ctx.destination);
    window.quicastAudio = {ctx, node};
    const showUnmute = () => { unmute.hidden = ctx.state === 'running'; };
    ctx.onstatechange = showUnmute;
    if (ctx.state !== 'running') {
      try { await Promise.race([ctx.resume(), new Promise(r => setTimeout(r, 300))]); } catch (e) {}
    }
    showUnmute();
    unmute.addEventListener('click', async () => { await ctx.resume(); showUnmute(); });
  } catch (e) {
    status.textContent = 'Audio unavailable: ' + e.message;
  }
  const go = new Go();
  const res = await WebAssembly.instantiateStreaming(fetch('/static/main.wasm'), go.importObject);
  go.run(res.instance);
})().catch(e => {
  document.getElementById('status').textContent = 'Player failed to start: ' + e.message;
});
