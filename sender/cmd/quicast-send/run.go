package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/quicast/quicast/protocol"
	"github.com/quicast/quicast/sender"
	"github.com/quicast/quicast/sender/media"
)

const usage = `quicast-send captures, encodes (VP8 + Opus) and sends a live broadcast as SRTP.

Usage:
  quicast-send -relay https://HOST:PORT -stream NAME -key KEY [-video SRC] [-audio SRC] [-ca FILE | -pin SHA256]
  quicast-send -to srtp://HOST:PORT -sdp FILE [-video SRC] [-audio SRC]     peer mode: no relay
  quicast-send -list                                                         cameras and microphones

The publish key can also come from -key-file FILE or the QUICAST_KEY
environment variable, out of sight of ps.

When the relay goes away (restart, network loss) quicast-send keeps
capturing and publishes again by itself, waiting 0.5 s, 1 s, 2 s, then 3 s
between attempts; a wrong key, an unknown stream, an untrusted certificate
or a stream another sender is live on end it. -takeover replaces that other
sender.

In peer mode video goes to PORT and audio to PORT+2 (each with its RTCP,
rtcp-mux), and the SRTP profile defaults to AES_CM_128_HMAC_SHA1_80, which
ffmpeg and GStreamer both read.

SRC is one of:
  test                 built-in test picture and tone (a flash and a beep every second)
  file:PATH            .y4m video or .wav audio; other formats through ffmpeg
  device:ID-or-label   a camera or microphone (see -list); device:default picks the first
  none                 no such track

Examples:
  quicast-send -relay https://relay.example:8443 -stream class -key KEY -ca ca.pem
  quicast-send -relay https://10.0.0.2:8443 -stream cam -key KEY -pin AB:CD:… -video device:default -audio none
  quicast-send -to srtp://127.0.0.1:5004 -sdp out.sdp
      then: ffplay -protocol_whitelist file,udp,rtp,srtp out.sdp

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quicast-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	relay := fs.String("relay", "", "relay `URL` (https://HOST:PORT)")
	stream := fs.String("stream", "", "stream `NAME` on the relay")
	key := fs.String("key", "", "the stream's publish `KEY` (visible to ps: prefer -key-file or $QUICAST_KEY)")
	keyFile := fs.String("key-file", "", "read the publish key from `FILE`")
	takeover := fs.Bool("takeover", false, "replace another sender that is live on the stream")
	ca := fs.String("ca", "", "trust the relay by this CA certificate `FILE` (PEM)")
	pin := fs.String("pin", "", "trust the relay by the `SHA256` fingerprint of its CA (printed at its start) or of any certificate in its chain")
	mediaAddr := fs.String("media-addr", "", "send media to UDP `HOST:PORT` instead of the port the relay announces (a port forward, or a proxy in between)")
	to := fs.String("to", "", "peer mode: send to `srtp://HOST:PORT` without a relay")
	sdpFile := fs.String("sdp", "", "peer mode: write the receiver's SDP (with the SRTP keys) to `FILE`")
	videoSrc := fs.String("video", "test", "video `SRC`")
	codecName := fs.String("codec", "vp8", "video `codec`: vp8 (libvpx) or h264 (OpenH264, constrained baseline)")
	audioSrc := fs.String("audio", "test", "audio `SRC`")
	profile := fs.String("srtp-profile", "", "SRTP `profile`: AEAD_AES_128_GCM or AES_CM_128_HMAC_SHA1_80 (default: GCM to a relay, AES_CM in peer mode)")
	size := fs.String("size", "1280x720", "video `WxH`")
	fps := fs.Float64("fps", 30, "video frames per second")
	vbr := fs.Int("bitrate", 1000, "video bitrate, `kbit/s`")
	abr := fs.Int("audio-bitrate", 64, "audio bitrate, `kbit/s`")
	list := fs.Bool("list", false, "list cameras and microphones and exit")
	statusEvery := fs.Duration("status", 5*time.Second, "status line interval (0: none)")
	verbose := fs.Bool("v", false, "log debug detail")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if *list {
		devs, err := media.ListDevices()
		if err != nil {
			return err
		}
		if len(devs) == 0 {
			fmt.Fprintln(stdout, "No camera or microphone found.")
		}
		for _, d := range devs {
			fmt.Fprintf(stdout, "%-6s %-40q device:%s\n", d.Kind, d.Label, d.ID)
		}
		return nil
	}

	vs, err := media.ParseSource(*videoSrc)
	if err != nil {
		return fmt.Errorf("-video: %w", err)
	}
	as, err := media.ParseSource(*audioSrc)
	if err != nil {
		return fmt.Errorf("-audio: %w", err)
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil || w < 16 || h < 16 || w > 7680 || h > 4320 {
		return fmt.Errorf("-size %q: want WxH, e.g. 1280x720", *size)
	}
	peer := *to != ""
	if *keyFile != "" {
		if *key != "" {
			return errors.New("give either -key or -key-file, not both")
		}
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("-key-file: %w", err)
		}
		*key = strings.TrimSpace(string(b))
		if *key == "" {
			return fmt.Errorf("-key-file %s is empty", *keyFile)
		}
	}
	if *key == "" {
		*key = strings.TrimSpace(os.Getenv("QUICAST_KEY"))
	}
	switch {
	case peer && *relay != "":
		return errors.New("give either -relay (publish) or -to (peer mode), not both")
	case peer && *sdpFile == "":
		return errors.New("peer mode needs -sdp FILE: the receiver opens it to get the keys")
	case !peer && (*relay == "" || *stream == "" || *key == ""):
		return errors.New("publishing needs -relay, -stream and a key (-key, -key-file or $QUICAST_KEY), or -to for peer mode; see -h")
	case vs.Type == media.SourceNone && as.Type == media.SourceNone:
		return sender.ErrNoTracks
	}

	if _, _, ok := protocol.VideoCodec(*codecName); !ok {
		return fmt.Errorf("-codec %q: want vp8 or h264", *codecName)
	}
	opts := media.Options{Width: w, Height: h, FPS: *fps, VideoBitrate: *vbr * 1000, AudioBitrate: *abr * 1000, Logger: log,
		VideoCodec: strings.ToUpper(*codecName)}
	clk := media.NewClock()
	video, err := media.Open(ctx, clk, vs, media.KindVideo, opts)
	if err != nil {
		return fmt.Errorf("video %s: %w", vs, err)
	}
	audio, err := media.Open(ctx, clk, as, media.KindAudio, opts)
	if err != nil {
		if video != nil {
			video.Close()
		}
		return fmt.Errorf("audio %s: %w", as, err)
	}
	closeAll := func() { media.CloseTracks(video, audio) }

	ecfg := sender.Config{Clock: clk, Video: video, Audio: audio, Logger: log}
	if peer {
		var desc string
		videoCodec := ""
		if video != nil {
			videoCodec = video.Codec().Name
		}
		ecfg.Session, desc, err = sender.PeerSession(*to, *profile, videoCodec, audio != nil)
		if err == nil {
			err = os.WriteFile(*sdpFile, []byte(desc), 0o600)
		}
		if err != nil {
			closeAll()
			return err
		}
		fmt.Fprintf(stdout, "sending SRTP (%s) to %s; receiver SDP written to %s\n", ecfg.Session.Profile, *to, *sdpFile)
	} else {
		pcfg := sender.PublishConfig{Relay: *relay, Stream: *stream, Key: *key, CAFile: *ca, Pin: *pin,
			Profile: *profile, Takeover: *takeover, MediaAddr: *mediaAddr}
		vo, ao := sender.Offers(video, audio)
		var pr protocol.PublishResponse
		ecfg.Session, pr, err = sender.Publish(ctx, pcfg, vo, ao)
		if err != nil {
			closeAll()
			return explain(err, *stream)
		}
		fmt.Fprintf(stdout, "publishing %q to %s (SRTP %s, UDP %s)\n  watch: %s\n", *stream, *relay, ecfg.Session.Profile, ecfg.Session.Addr, pr.WatchURL)
		// Publishing again after a loss takes over only from ourselves.
		pcfg.Takeover = false
		ecfg.Renew = sender.Renewer(pcfg, vo, ao)
		ecfg.OnLink = func(l sender.LinkStatus) {
			switch {
			case l.State == sender.LinkUp:
				fmt.Fprintf(stderr, "relay back: publishing again (session %s)\n", l.Session)
			case l.Attempt > 0:
				fmt.Fprintf(stderr, "reconnecting (attempt %d, next in %.1fs): %v\n", l.Attempt,
					time.Until(l.Next).Seconds(), l.Err)
			}
		}
	}

	eng, err := sender.New(ctx, ecfg)
	if err != nil {
		closeAll()
		return err
	}
	var tick <-chan time.Time
	if *statusEvery > 0 {
		t := time.NewTicker(*statusEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-eng.Done():
			eng.Close()
			if err := eng.Err(); err != nil {
				return explain(err, *stream)
			}
			return nil
		case <-tick:
			s := eng.Stats()
			if s.Link.State == sender.LinkReconnecting {
				fmt.Fprintf(stderr, "%s  reconnecting (attempt %d): %v\n", s.Elapsed.Round(time.Second), s.Link.Attempt, s.Link.Err)
				continue
			}
			late := ""
			if s.Video.FramesLate > 0 {
				late = fmt.Sprintf("  %d frames skipped: the encoder cannot keep up (try a smaller -size or -fps)", s.Video.FramesLate)
			}
			rtt := "-"
			if r := max(s.Video.RTT, s.Audio.RTT); r > 0 {
				rtt = r.Round(100 * time.Microsecond).String()
			}
			fmt.Fprintf(stderr, "%s  video %dx%d %.0f fps %.0f kbit/s  audio %.0f kbit/s  packets %d  lost %.1f%%  RTT %s  PLI %d  NACK %d  resent %d%s\n",
				s.Elapsed.Round(time.Second), s.Width, s.Height, s.Video.FPS, s.Video.BitrateKbps, s.Audio.BitrateKbps,
				s.Video.Packets+s.Audio.Packets, 100*s.Video.FractionLost, rtt, s.Video.PLIs, s.Video.NACKs+s.Audio.NACKs,
				s.Video.Retransmits+s.Audio.Retransmits, late)
		}
	}
}

// explain adds what to do to the errors a person can act on.
func explain(err error, stream string) error {
	switch {
	case errors.Is(err, sender.ErrBadKey):
		return fmt.Errorf("%w — check the key (the relay printed it at `quicast-relay stream add %s`) and the stream's name: the relay does not tell a wrong key from a stream it does not have", err, stream)
	case errors.Is(err, sender.ErrTakenOver):
		return fmt.Errorf("%w: stopped (it was started with -takeover)", err)
	case errors.Is(err, sender.ErrRevoked):
		return fmt.Errorf("%w: stopped (get the new key from `quicast-relay stream rekey %s`)", err, stream)
	}
	return err
}
