package sender

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/quicast/quicast/certs"
	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender/internal/sdp"
	"github.com/quicast/quicast/sender/media"
)

// PublishConfig says which relay to publish to and how to trust it.
type PublishConfig struct {
	Relay   string // https://HOST:PORT
	Stream  string
	Key     string // the stream's publish key
	CAFile  string // trust the relay by this CA certificate (PEM), or
	Pin     string // by the SHA-256 of a certificate in its chain, or else the system roots
	Profile string // SRTP profile; default AEAD_AES_128_GCM
	// Takeover replaces a sender that is live on the stream; without it
	// the relay refuses with ErrLive.
	Takeover bool
	// MediaAddr, when set, is the UDP HOST:PORT media goes to instead of
	// the port the relay announces: a port forward in front of the relay,
	// or a proxy in between.
	MediaAddr string
}

// Offers describes the open tracks for Publish: the video track's codec at its
// size (pixels, 90 kHz clock), Opus stereo at 48 kHz; nil for a track that
// is not there.
func Offers(video, audio media.Track) (v, a *protocol.TrackOffer) {
	if video != nil {
		w, h := video.Size()
		v = &protocol.TrackOffer{Codec: video.Codec().Name, ClockRate: protocol.ClockRateVideo, Width: w, Height: h}
	}
	if audio != nil {
		a = &protocol.TrackOffer{Codec: "opus", ClockRate: protocol.ClockRateOpus, Channels: 2}
	}
	return v, a
}

// Publish performs the publish handshake (POST /api/publish over TLS) and
// returns where and how to send. Errors name the cause in words: a wrong
// key or an unknown stream wraps ErrBadKey (quicast-relay answers both
// alike, 401), a 404 ErrNoStream, a stream another sender has ErrLive, an
// untrusted certificate ErrUntrusted.
func Publish(ctx context.Context, cfg PublishConfig, video, audio *protocol.TrackOffer) (Session, protocol.PublishResponse, error) {
	return publish(ctx, cfg, "", video, audio)
}

// Renewer returns a Config.Renew for the engine: it publishes the same
// tracks again, naming the lost session so that the relay lets this sender
// resume its own stream.
func Renewer(cfg PublishConfig, video, audio *protocol.TrackOffer) func(ctx context.Context, lost Session) (Session, error) {
	return func(ctx context.Context, lost Session) (Session, error) {
		s, _, err := publish(ctx, cfg, lost.ID, video, audio)
		return s, err
	}
}

// publishTimeout bounds one publish handshake, so that a reconnecting
// sender on a dead network tries again soon.
const publishTimeout = 5 * time.Second

func publish(ctx context.Context, cfg PublishConfig, resume string, video, audio *protocol.TrackOffer) (Session, protocol.PublishResponse, error) {
	u, err := url.Parse(cfg.Relay)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay address %q: want https://HOST:PORT", cfg.Relay)
	}
	tlsConf, err := certs.ClientConfig(cfg.CAFile, cfg.Pin)
	if err != nil {
		return Session{}, protocol.PublishResponse{}, err
	}
	client := &http.Client{Timeout: publishTimeout, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(protocol.PublishRequest{Stream: cfg.Stream, Profile: cfg.Profile, Video: video, Audio: audio,
		Takeover: cfg.Takeover, Resume: resume})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(cfg.Relay, "/")+protocol.PathPublish, bytes.NewReader(body))
	if err != nil {
		return Session{}, protocol.PublishResponse{}, err
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			return Session{}, protocol.PublishResponse{}, fmt.Errorf("%w: relay %s: %v", ErrUntrusted, u.Host, cv.Err)
		}
		if errors.Is(err, certs.ErrUntrusted) {
			return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay %s: %w", u.Host, err)
		}
		return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay %s unreachable: %w", u.Host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		var e protocol.ErrorResponse
		_ = json.Unmarshal(b, &e)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return Session{}, protocol.PublishResponse{}, fmt.Errorf("%w for stream %q (%s)", ErrBadKey, cfg.Stream, e.Error)
		case http.StatusNotFound:
			return Session{}, protocol.PublishResponse{}, fmt.Errorf("%w %q (create it with: quicast-relay stream add %s)", ErrNoStream, cfg.Stream, cfg.Stream)
		case http.StatusConflict:
			return Session{}, protocol.PublishResponse{}, fmt.Errorf("%w: %s", ErrLive, e.Error)
		}
		return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay refused to publish: %s: %s", resp.Status, e.Error)
	}
	var pr protocol.PublishResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay's publish answer: %w", err)
	}
	udpAddr := pr.Addr
	if cfg.MediaAddr != "" {
		udpAddr = cfg.MediaAddr
	}
	host, port, err := net.SplitHostPort(udpAddr)
	if err != nil {
		return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay's UDP address %q: %w", udpAddr, err)
	}
	if host == "" {
		host = u.Hostname()
	}
	addr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, port))
	if err != nil {
		return Session{}, protocol.PublishResponse{}, fmt.Errorf("relay's UDP address: %w", err)
	}
	return Session{ID: pr.Session, Addr: addr, Profile: pr.Profile, Key: pr.MasterKey, Salt: pr.MasterSalt,
		VideoSSRC: pr.VideoSSRC, AudioSSRC: pr.AudioSSRC, VideoPT: pr.VideoPT, AudioPT: pr.AudioPT,
		ExpectRTCP: true}, pr, nil
}

// PeerSession makes a session with fresh random keys and SSRCs for sending
// to a plain SRTP receiver at target ("srtp://HOST:PORT"), and the SDP that
// receiver opens. Video goes to PORT and audio to PORT+2, each with its
// RTCP on the same port (rtcp-mux, RFC 5761): receivers such as ffmpeg
// open one socket per m= line and would see each other's packets on a
// shared port. The profile defaults to AES_CM_128_HMAC_SHA1_80, the one
// every SDES receiver knows (ffmpeg has no AEAD_AES_128_GCM). videoCodec is
// "VP8" or "H264", "" for no video.
func PeerSession(target, profile, videoCodec string, audio bool) (Session, string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "srtp" || u.Port() == "" {
		return Session{}, "", fmt.Errorf("peer address %q: want srtp://HOST:PORT", target)
	}
	addr, err := net.ResolveUDPAddr("udp", u.Host)
	if err != nil {
		return Session{}, "", fmt.Errorf("peer address: %w", err)
	}
	if profile == "" {
		profile = protocol.ProfileAES128CMHMACSHA1_80
	}
	saltLen := 12
	switch profile {
	case protocol.ProfileAEADAES128GCM:
	case protocol.ProfileAES128CMHMACSHA1_80:
		saltLen = 14
	default:
		return Session{}, "", fmt.Errorf("unsupported SRTP profile %q", profile)
	}
	video := videoCodec != ""
	if !video && !audio {
		return Session{}, "", ErrNoTracks
	}
	videoPT, _, ok := protocol.VideoCodec(videoCodec)
	if video && !ok {
		return Session{}, "", fmt.Errorf("unsupported video codec %q (want VP8 or H264)", videoCodec)
	}
	encoding, fmtp := "VP8/90000", ""
	if videoPT == protocol.PayloadTypeH264 {
		// RFC 6184 §8.1: what OpenH264 writes, constrained baseline 3.1.
		encoding, fmtp = "H264/90000", "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1"
	}
	if audio && addr.Port > 65535-2 {
		return Session{}, "", fmt.Errorf("peer port %d: audio goes to PORT+2, which is not a port", addr.Port)
	}
	s := Session{Addr: addr, Profile: profile, Key: randBytes(16), Salt: randBytes(saltLen),
		VideoPT: videoPT, AudioPT: protocol.PayloadTypeOpus}
	ap := addr.AddrPort()
	desc := sdp.Session{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), Profile: profile, Key: s.Key, Salt: s.Salt,
		SessionID: uint64(time.Now().Unix())}
	if video {
		s.VideoSSRC = binary.BigEndian.Uint32(randBytes(4))
		desc.Tracks = append(desc.Tracks, sdp.Track{Kind: "video", Port: uint16(addr.Port), PayloadType: s.VideoPT,
			Encoding: encoding, Fmtp: fmtp, SSRC: s.VideoSSRC})
	}
	if audio {
		s.AudioSSRC = binary.BigEndian.Uint32(randBytes(4))
		aport := addr.Port
		if video {
			aport += 2
			s.AudioAddr = &net.UDPAddr{IP: addr.IP, Port: aport, Zone: addr.Zone}
		}
		desc.Tracks = append(desc.Tracks, sdp.Track{Kind: "audio", Port: uint16(aport), PayloadType: s.AudioPT,
			Encoding: "opus/48000/2", SSRC: s.AudioSSRC})
	}
	text, err := desc.Marshal()
	if err != nil {
		return Session{}, "", err
	}
	return s, text, nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
