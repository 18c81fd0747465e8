#!/usr/bin/env bash
# Installs the Debian packages quicast needs to build and test, when they are
# missing. As root it runs apt-get itself; otherwise it prints the command to
# run and fails.
#
#   scripts/deps.sh build   cgo codecs only (VP8, Opus)
#   scripts/deps.sh gui     build + the desktop window (Gio, echo canceller, H.264 decoding)
#   scripts/deps.sh test    build + browser, GStreamer, ffmpeg, Xvfb (default)
set -euo pipefail

build_pkgs=(gcc pkg-config libvpx-dev libopus-dev)
gui_pkgs=(libspeexdsp-dev libwayland-dev libx11-dev libx11-xcb-dev libxkbcommon-x11-dev libgles2-mesa-dev
  libegl1-mesa-dev libffi-dev libxcursor-dev libvulkan-dev fonts-noto-cjk libopusfile-dev libavcodec-dev)
test_pkgs=(chromium libnss3-tools xvfb xauth xdotool gstreamer1.0-tools gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad ffmpeg)

case "${1:-test}" in
build) want=("${build_pkgs[@]}") ;;
gui) want=("${build_pkgs[@]}" "${gui_pkgs[@]}") ;;
test) want=("${build_pkgs[@]}" "${gui_pkgs[@]}" "${test_pkgs[@]}") ;;
*) echo "usage: $0 [build|gui|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "quicast needs these Debian packages, which are not installed:" >&2
  echo "  ${missing[*]}" >&2
  echo "install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}" >&2
