# quicast — build, test, benchmark and run everything.
#
#   make demo    build, then run a relay and a test-source sender on this machine
#   make test    the whole suite (unit, fuzz seeds, js/wasm build, interop, browser)
#   make bench   benchmarks: per-packet paths, encoder, latency, skew, loss, load (bin/bench.txt)
#   make fuzz    every fuzz target for FUZZTIME each (default 20s)
#   make run     the desktop application

GO        ?= go
BIN       := bin
WASM_DIR  := viewer-wasm/web/static
GOROOT    := $(shell $(GO) env GOROOT)
TEST_TIMEOUT ?= 25m
# The viewer's link flags: `make wasm WASM_LDFLAGS=` keeps its function
# names, for a browser profile (QUICAST_PROFILE, relay/e2e).
WASM_LDFLAGS ?= -s -w

.PHONY: all build deps deps-build deps-gui wasm test test-short vet bench fuzz demo run clean

all: build

deps:
	@scripts/deps.sh test

deps-build:
	@scripts/deps.sh build

deps-gui:
	@scripts/deps.sh gui

# The viewer: Go compiled to WebAssembly, embedded by the relay precompressed.
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags="$(WASM_LDFLAGS)" -o $(WASM_DIR)/main.wasm ./viewer-wasm/cmd/player
	gzip -9 -n -k -f $(WASM_DIR)/main.wasm
	cp -f $(GOROOT)/lib/wasm/wasm_exec.js $(WASM_DIR)/wasm_exec.js
	@echo "viewer: $$(stat -c %s $(WASM_DIR)/main.wasm) bytes, $$(stat -c %s $(WASM_DIR)/main.wasm.gz) gzipped"

build: deps-build wasm
	$(GO) build -o $(BIN)/ ./relay/cmd/quicast-relay ./relay/cmd/quicast-load ./sender/cmd/quicast-send

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./protocol/... ./viewer-wasm/...

# The whole suite. It installs what it needs (as root), builds the viewer the
# relay embeds, checks the js/wasm build and that the relay builds for
# Windows and macOS (pure Go), and runs every test with -race,
# including the interop (GStreamer, ffmpeg) and headless Chromium tests.
test: deps wasm
	GOOS=js GOARCH=wasm $(GO) build ./protocol/... ./viewer-wasm/...
	CGO_ENABLED=0 GOOS=windows $(GO) build -o /dev/null ./relay/cmd/quicast-relay
	CGO_ENABLED=0 GOOS=darwin $(GO) build -o /dev/null ./relay/cmd/quicast-relay
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

# Unit tests only: no browser, GStreamer or ffmpeg.
test-short: deps-gui wasm
	$(GO) test -race -short ./...

# Benchmarks: the per-packet paths and the encoder, then the end-to-end
# figures (glass-to-glass latency and its stages, time to first frame, A/V
# skew, an impaired network, the viewer's size) measured by headless
# Chromium, once each. Prints a table and writes it to bin/bench.txt.
# BenchmarkFourPersonCall (two windows, two browsers in one room) runs for
# $QUICAST_CALL_DURATION, 10m unless set. The end-to-end ones run with -v:
# without it Go keeps ten lines of a benchmark's log, and a call's
# figures for each side take more.
bench: deps wasm
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v -e /relay/e2e -e /viewer-wasm/cmd/) | tee $(BIN)/bench-raw.txt
	$(GO) test -v -run '^$$' -bench . -benchtime 1x -timeout 20m ./relay/e2e/ | tee -a $(BIN)/bench-raw.txt
	@$(GO) run scripts/benchtable.go $(BIN)/bench-raw.txt | tee $(BIN)/bench.txt

# Every fuzz target for FUZZTIME each (default 20s; FUZZTIME=3m for a long
# run). Crashers land in the package's testdata/fuzz/: commit them.
fuzz: deps
	@scripts/fuzz.sh

demo: build
	@scripts/demo.sh

clean:
	rm -rf $(BIN) $(WASM_DIR)/main.wasm $(WASM_DIR)/main.wasm.gz $(WASM_DIR)/wasm_exec.js

# The desktop window (Gio). Needs the GUI libraries scripts/deps.sh installs.
run: deps-gui wasm
	$(GO) run ./gio-ui/cmd/quicast $(ARGS)
