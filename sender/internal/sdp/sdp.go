// Package sdp writes the session description (RFC 4566) of a peer-mode
// broadcast, with its SRTP keys in a=crypto lines (RFC 4568 §9.1, RFC 7714
// §14.2 for AEAD_AES_128_GCM) under each m= line, where ffmpeg and
// GStreamer look for them.
package sdp

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
)

// Track is one m= section.
type Track struct {
	Kind        string // "video" or "audio"
	Port        uint16 // UDP port of this m= line (RTP and RTCP, rtcp-mux); 0: the session's
	PayloadType uint8
	Encoding    string // rtpmap encoding name and parameters: "VP8/90000", "opus/48000/2"
	SSRC        uint32
}

// Session is a peer-mode broadcast to Addr's host; each track to its own
// port or else to Addr's (rtcp-mux either way).
type Session struct {
	Addr       netip.AddrPort
	Profile    string // "AES_CM_128_HMAC_SHA1_80" or "AEAD_AES_128_GCM"
	Key, Salt  []byte
	Tracks     []Track
	SessionID  uint64
	SessionVer uint64
}

// Marshal returns the SDP text.
func (s Session) Marshal() string {
	ipv := "IP4"
	if s.Addr.Addr().Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=- %d %d IN %s %s\r\n", s.SessionID, s.SessionVer, ipv, s.Addr.Addr())
	fmt.Fprintf(&b, "s=quicast\r\n")
	fmt.Fprintf(&b, "c=IN %s %s\r\n", ipv, s.Addr.Addr())
	fmt.Fprintf(&b, "t=0 0\r\n")
	inline := base64.StdEncoding.EncodeToString(append(append([]byte{}, s.Key...), s.Salt...))
	for _, t := range s.Tracks {
		port := t.Port
		if port == 0 {
			port = s.Addr.Port()
		}
		fmt.Fprintf(&b, "m=%s %d RTP/SAVP %d\r\n", t.Kind, port, t.PayloadType)
		fmt.Fprintf(&b, "a=rtpmap:%d %s\r\n", t.PayloadType, t.Encoding)
		fmt.Fprintf(&b, "a=rtcp-mux\r\n")
		fmt.Fprintf(&b, "a=crypto:1 %s inline:%s\r\n", s.Profile, inline)
		fmt.Fprintf(&b, "a=ssrc:%d cname:quicast\r\n", t.SSRC)
		fmt.Fprintf(&b, "a=recvonly\r\n")
	}
	return b.String()
}
