// Package sdp writes the session description (RFC 4566) of a peer-mode
// broadcast, with its SRTP keys in a=crypto lines (RFC 4568 §9.1, RFC 7714
// §14.2 for AEAD_AES_128_GCM) under each m= line, where ffmpeg and
// GStreamer look for them.
package sdp

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/pion/sdp/v3"
)

// Track is one m= section.
type Track struct {
	Kind        string // "video" or "audio"
	Port        uint16 // UDP port of this m= line (RTP and RTCP, rtcp-mux); 0: the session's
	PayloadType uint8
	Encoding    string // rtpmap encoding name and parameters: "VP8/90000", "opus/48000/2"
	Fmtp        string // format parameters (a=fmtp), "" for none
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

// Marshal returns the SDP text, written by pion/sdp.
func (s Session) Marshal() (string, error) {
	ipv := "IP4"
	if s.Addr.Addr().Is6() {
		ipv = "IP6"
	}
	addr := s.Addr.Addr().String()
	d := &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "-", SessionID: s.SessionID, SessionVersion: s.SessionVer,
			NetworkType: "IN", AddressType: ipv, UnicastAddress: addr},
		SessionName: "quicast",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: ipv,
			Address: &sdp.Address{Address: addr}},
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
	inline := base64.StdEncoding.EncodeToString(append(append([]byte{}, s.Key...), s.Salt...))
	for _, t := range s.Tracks {
		port := t.Port
		if port == 0 {
			port = s.Addr.Port()
		}
		pt := strconv.Itoa(int(t.PayloadType))
		attrs := []sdp.Attribute{sdp.NewAttribute("rtpmap", pt+" "+t.Encoding)}
		if t.Fmtp != "" {
			attrs = append(attrs, sdp.NewAttribute("fmtp", pt+" "+t.Fmtp))
		}
		attrs = append(attrs,
			sdp.NewPropertyAttribute("rtcp-mux"),
			sdp.NewAttribute("crypto", "1 "+s.Profile+" inline:"+inline),
			sdp.NewAttribute("ssrc", strconv.FormatUint(uint64(t.SSRC), 10)+" cname:quicast"),
			sdp.NewPropertyAttribute("recvonly"))
		d.MediaDescriptions = append(d.MediaDescriptions, &sdp.MediaDescription{
			MediaName: sdp.MediaName{Media: t.Kind, Port: sdp.RangedPort{Value: int(port)},
				Protos: []string{"RTP", "SAVP"}, Formats: []string{pt}},
			Attributes: attrs,
		})
	}
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("sdp: %w", err)
	}
	return string(b), nil
}
