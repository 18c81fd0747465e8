//go:build ignore

// benchtable turns the output of `go test -bench` (files named on the
// command line, or stdin) into one table: a row per benchmark and metric,
// with the machine it ran on. `make bench` prints it and writes it to
// bin/bench.txt.
//
//	go run scripts/benchtable.go bin/bench-raw.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	var in []io.Reader
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = append(in, f)
	}
	if len(in) == 0 {
		in = append(in, os.Stdin)
	}
	var cpu, pkg string
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := false
	rows := 0
	for _, r := range in {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "cpu: "):
				cpu = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
			case strings.HasPrefix(line, "pkg: "):
				pkg = strings.TrimPrefix(strings.TrimPrefix(line, "pkg: "), "github.com/quicast/quicast/")
			case strings.HasPrefix(line, "Benchmark"):
				f := strings.Fields(line)
				if len(f) < 4 || len(f)%2 != 0 {
					continue // a benchmark's name alone: its log follows
				}
				if !header {
					fmt.Printf("quicast benchmarks, %s\ncpu: %s\n\n", time.Now().Format("2006-01-02 15:04"), cpu)
					fmt.Fprintln(w, "package\tbenchmark\tvalue\tunit\t")
					header = true
				}
				name := strings.TrimPrefix(f[0], "Benchmark")
				for i := 2; i+1 < len(f); i += 2 {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t\n", pkg, name, f[i], f[i+1])
					name, rows = "", rows+1
				}
			}
		}
	}
	w.Flush()
	if rows == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results in the input")
		os.Exit(1)
	}
}
