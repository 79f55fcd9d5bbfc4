// Command driver decides proposals with OPA as an embedding service would: the Rego policy
// prepared once (rego.PrepareForEval), then for each proposal its JSON text decoded and the
// query evaluated. Reads the policy file and a file of JSON lines (one input each); prints one
// JSON object: decisions, decisions_per_s and per-decision latency percentiles in microseconds.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: driver POLICY.rego INPUTS.jsonl ROUNDS")
		os.Exit(2)
	}
	policy, err := os.ReadFile(os.Args[1])
	check(err)
	var rounds int
	_, err = fmt.Sscan(os.Args[3], &rounds)
	check(err)
	ctx := context.Background()
	query, err := rego.New(
		rego.Query("data.bench.matched"),
		rego.Module("bench.rego", string(policy)),
	).PrepareForEval(ctx)
	check(err)
	lines := readLines(os.Args[2])
	samples := make([]float64, 0, len(lines)*rounds)
	started := time.Now()
	for r := 0; r < rounds; r++ {
		for _, line := range lines {
			begin := time.Now()
			var input map[string]any
			check(json.Unmarshal(line, &input))
			_, err := query.Eval(ctx, rego.EvalInput(input))
			check(err)
			samples = append(samples, float64(time.Since(begin).Nanoseconds())/1000)
		}
	}
	elapsed := time.Since(started).Seconds()
	sort.Float64s(samples)
	out := map[string]any{
		"decisions":       len(samples),
		"decisions_per_s": float64(len(samples)) / elapsed,
		"p50_us":          samples[len(samples)/2],
		"p99_us":          samples[len(samples)*99/100],
	}
	check(json.NewEncoder(os.Stdout).Encode(out))
}

func readLines(path string) [][]byte {
	file, err := os.Open(path)
	check(err)
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	var lines [][]byte
	for scanner.Scan() {
		lines = append(lines, append([]byte(nil), scanner.Bytes()...))
	}
	check(scanner.Err())
	return lines
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
