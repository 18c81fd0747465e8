// Package e2e holds the end-to-end tests of quicast: the real quicast-relay
// and quicast-send binaries on loopback, watched by headless Chromium driven
// through the DevTools protocol, and published to by ffmpeg. The package has
// no non-test code beyond this comment.
package e2e
