// Package protocol holds everything the quicast sender, relay and viewer must
// agree on: the publish handshake (JSON over HTTPS), viewer tickets, the
// WebTransport framing of the control stream, video group streams and audio
// datagrams, and RTP/RTCP helpers on top of pion/rtp and pion/rtcp.
//
// The wire formats are written down in README.md next to this file.
//
// The package is a leaf: it imports only the standard library and pure-Go
// libraries, and it builds for GOOS=js GOARCH=wasm, since the browser viewer
// uses it too.
package protocol
