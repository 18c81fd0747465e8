// Command player is the quicast browser player, compiled to WebAssembly
// (GOOS=js GOARCH=wasm). It opens the stream over WebTransport, decodes VP8
// and Opus with the browser's WebCodecs, plays audio through an AudioWorklet
// and shows each video frame when the audio reaches its time.
package main
