// quicast publishing worker: a room participant's camera and microphone
// encoded, packetized and sent from here, by the same Go program as the
// page's (publish.go, runPublisherWorker), so that none of it waits for the
// page's main thread, which in a call is busy with the other participants'
// pictures and sound.
//
// In:  {module, room, video, audio} once: the program's compiled
//      WebAssembly.Module, the room's name and the tracks'
//      MediaStreamTrackProcessor readables (either may be absent);
//      {stop: true} to leave.
// Out: {state, message, stream} as the publishing goes (publish.go
//      pubEvent), {stats} every 250 ms, {done: true} at the end (the worker
//      then closes itself), {state: 'error', message} if the program
//      stops unexpectedly, and {log} for what it says on the console.
importScripts('/static/wasm_exec.js', '/static/player.js', '/static/publish.js');
self.quicastForwardConsole();

onmessage = async (e) => {
  const m = e.data;
  if (m.stop) {
    if (self.quicastStop) self.quicastStop(); else self.quicastStopped = true;
    return;
  }
  if (!m.module) return;
  self.quicastPublisherInit = m;
  const go = new Go();
  try {
    await go.run(await WebAssembly.instantiate(m.module, go.importObject));
  } catch (err) {
    postMessage({state: 'error', message: 'the publishing stopped: ' + err});
    return;
  }
  // The program sets quicastDone when it ends as it should (a panic ends
  // it too, and says why on the console).
  if (!self.quicastDone) postMessage({state: 'error', message: 'the publishing stopped unexpectedly'});
  close();
};
