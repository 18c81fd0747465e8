package sdp

import (
	"net/netip"
	"strings"
	"testing"

	pionsdp "github.com/pion/sdp/v3"
)

func TestMarshal(t *testing.T) {
	s := Session{
		Addr:    netip.MustParseAddrPort("127.0.0.1:5004"),
		Profile: "AES_CM_128_HMAC_SHA1_80",
		Key:     make([]byte, 16), Salt: make([]byte, 14),
		Tracks: []Track{
			{Kind: "video", PayloadType: 96, Encoding: "VP8/90000", SSRC: 1},
			{Kind: "audio", Port: 5006, PayloadType: 111, Encoding: "opus/48000/2", SSRC: 2},
		},
	}
	text, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var d pionsdp.SessionDescription
	if err := d.Unmarshal([]byte(text)); err != nil {
		t.Fatalf("not valid SDP: %v\n%s", err, text)
	}
	if len(d.MediaDescriptions) != 2 {
		t.Fatalf("%d m= sections, want 2", len(d.MediaDescriptions))
	}
	for i, m := range d.MediaDescriptions {
		c, ok := m.Attribute("crypto")
		if !ok || !strings.HasPrefix(c, "1 AES_CM_128_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") {
			t.Errorf("m= %d crypto = %q", i, c)
		}
		if want := 5004 + 2*i; m.MediaName.Port.Value != want {
			t.Errorf("m= %d port %d", i, m.MediaName.Port.Value)
		}
	}
	if v, _ := d.MediaDescriptions[1].Attribute("rtpmap"); v != "111 opus/48000/2" {
		t.Errorf("audio rtpmap %q", v)
	}
}
