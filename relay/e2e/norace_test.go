//go:build !race

package e2e

// raceEnabled: the tests run without -race (benchmarks), and so do the
// binaries they start, so that the figures are the product's own.
const raceEnabled = false
