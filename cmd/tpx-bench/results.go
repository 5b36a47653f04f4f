package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// results is everything one run measured.
type results struct {
	env   envInfo
	sizes sizes
	took  time.Duration

	verify, sign     runResult // crypto floors, per core-second
	inProcess        runResult // as tpx serve wires it
	inProcessCore    runResult // without the owner UI's observer
	postgres, sqlite backendRun
	flood            floodResult
	growth           growthResult
	dex              *dexResult  // nil without -dex
	tenants          []tenantRun // other tenants' publishers naming one repository
}

type growthResult struct {
	small, big               runResult // base publishers vs the large set
	oneProject, manyProjects runResult // one publisher on 1 project vs on many
	// the same without the owner UI's observer
	oneProjectCore, manyProjectsCore runResult
	seeded                           time.Duration
}

type envInfo struct {
	when                time.Time
	quick               bool
	dexOnly             bool
	goVersion, platform string
	cpu                 string
	cores, procs        int
	postgres            string
	synchronousCommit   string
	fsync               string
	// load averages over the last minute, at the start and the end of the run: the
	// machine is shared, and what else ran on it shows here
	loadStart, loadEnd string
}

func environment(quick, dexOnly bool) envInfo {
	return envInfo{
		when: time.Now(), quick: quick, dexOnly: dexOnly, goVersion: runtime.Version(), platform: runtime.GOOS + "/" + runtime.GOARCH,
		cpu: cpuModel(), cores: runtime.NumCPU(), procs: runtime.GOMAXPROCS(0), loadStart: loadAverage(),
	}
}

// loadAverage is the one-minute load average of the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	first, _, _ := strings.Cut(string(b), " ")
	return first
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if name, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// cryptoFloor is exchanges per core-second if an exchange did nothing but verify the CI
// token and sign the upload token.
func (r results) cryptoFloor() float64 {
	v, s := r.verify.perCore(), r.sign.perCore()
	if v == 0 || s == 0 {
		return 0
	}
	return 1 / (1/v + 1/s)
}

// best is the level with the highest throughput.
func (b backendRun) best() level {
	var out level
	for _, l := range b.levels {
		if l.run.rate() > out.run.rate() {
			out = l
		}
	}
	return out
}

// floorRatio is e2e throughput over the one-round-trip raw-transaction floor.
func (l level) floorRatio() float64 {
	if l.floor.rate() == 0 {
		return 0
	}
	return l.run.rate() / l.floor.rate()
}

// ratio is a / b for latencies.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// target is a performance target with what was measured.
type target struct {
	name, measured string
	met            bool
}

func (r results) targets() []target {
	s := r.sizes
	cpu := r.inProcess.cpuPerOp()
	growth := ratio(r.growth.big.p50(), r.growth.small.p50())
	projects := ratio(r.growth.manyProjects.p50(), r.growth.oneProject.p50())
	coreProjects := ratio(r.growth.manyProjectsCore.p50(), r.growth.oneProjectCore.p50())
	rss := max(r.postgres.peakRSS, r.sqlite.peakRSS)
	out := []target{
		{"in process: ≤ 200 µs of tpx CPU and ≤ 200 allocations per exchange",
			us(cpu) + ", " + num(r.inProcess.allocsPerOp()) + " allocations",
			cpu > 0 && cpu <= 200*time.Microsecond && r.inProcess.allocsPerOp() <= 200},
		{"p50 with " + count(s.bigPublishers) + " publishers within 1.2× of " + count(s.basePublishers), times(growth), growth > 0 && growth <= 1.2},
		{"p50 of one publisher on " + count(s.multiProjects) + " projects within 5× of 1 project",
			times(projects) + " (exchange core without the UI observer: " + times(coreProjects) + ")", projects > 0 && projects <= 5},
		floodFetches(r.flood),
		floodLatency(r.flood),
		{"peak RSS of the server < 150 MB", mib(rss), rss > 0 && rss < 150e6},
	}
	if r.dex != nil {
		t := target{name: "tpx ≥ 1.0× Dex's exchanges per second at concurrency 1, 8 and 32", met: len(r.dex.levels) > 0}
		var parts []string
		for _, l := range r.dex.levels {
			parts = append(parts, fmt.Sprintf("%s at %d", times(l.ratio()), l.c))
			t.met = t.met && l.ratio() >= 1
		}
		t.measured = strings.Join(parts, ", ")
		out = append(out, t)
	}
	return out
}

// floodFetches is the key-flood fetch target over every flood.
func floodFetches(f floodResult) target {
	t := target{name: "key flood: at most one JWKS fetch per cooldown", met: len(f.runs) > 0}
	var parts []string
	for _, r := range f.runs {
		parts = append(parts, fmt.Sprintf("%d fetches, %d allowed (%s)", r.jwksFetches, r.allowed(f.cooldown), r.shape))
		t.met = t.met && r.jwksFetches <= r.allowed(f.cooldown)
	}
	t.measured = strings.Join(parts, "; ")
	return t
}

// floodLatency is the key-flood latency target over the floods from connections; the
// flood that opens a new connection per request is shown beside it, outside the target.
func floodLatency(f floodResult) target {
	t := target{name: "key flood from connections: valid p99 within 5× of no flood", met: len(f.runs) > 0}
	var parts []string
	for i, r := range f.runs {
		x := f.ratio(i)
		if r.shape.fresh {
			parts = append(parts, fmt.Sprintf("%s (%s: outside the target)", times(x), r.shape))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", times(x), r.shape))
		t.met = t.met && x > 0 && x <= 5
	}
	t.measured = strings.Join(parts, "; ")
	return t
}
