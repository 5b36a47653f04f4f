package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runResult is one measured run.
type runResult struct {
	n       int             // operations completed
	elapsed time.Duration   // wall time
	cpu     time.Duration   // CPU time of this process (user + system), all threads
	mallocs uint64          // heap allocations of the measured process during the run
	lat     []time.Duration // one per operation, sorted
	errs    int             // operations that failed (not counted in n)
	errText string          // the first failure
	wal     walUse          // the database cluster's WAL written during the run, where measured
}

// walUse is WAL that PostgreSQL wrote: how far its insert position moved.
type walUse struct {
	measured bool
	bytes    float64
}

// per is u divided among n operations, as text for a table.
func (u walUse) per(n int) string {
	if !u.measured || n == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f B", u.bytes/float64(n))
}

// rate is operations per second of wall time.
func (r runResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

// perCore is operations per second of CPU time of the measuring process: what one core
// of that process achieves, whatever else shares the machine.
func (r runResult) perCore() float64 {
	if r.cpu <= 0 {
		return 0
	}
	return float64(r.n) / r.cpu.Seconds()
}

// pct is the q-quantile of the latencies (nearest rank).
func (r runResult) pct(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(r.lat))+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r runResult) p50() time.Duration { return r.pct(0.50) }
func (r runResult) p99() time.Duration { return r.pct(0.99) }

func (r *runResult) sortLatencies() { slices.Sort(r.lat) }

// add counts o's operations into r, as if both had been one run.
func (r *runResult) add(o runResult) {
	if r.errText == "" {
		r.errText = o.errText
	}
	r.n, r.elapsed, r.cpu, r.mallocs, r.errs = r.n+o.n, r.elapsed+o.elapsed, r.cpu+o.cpu, r.mallocs+o.mallocs, r.errs+o.errs
	r.lat = append(r.lat, o.lat...)
	r.sortLatencies()
}

// cpuPerOp is the measuring process's CPU time per completed operation.
func (r runResult) cpuPerOp() time.Duration {
	if r.n == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.n)
}

// allocsPerOp is heap allocations per completed operation.
func (r runResult) allocsPerOp() float64 {
	if r.n == 0 {
		return 0
	}
	return float64(r.mallocs) / float64(r.n)
}

// measure takes the wall clock, CPU time and allocation count at the start of a run.
type measure struct {
	t0      time.Time
	cpu0    time.Duration
	malloc0 uint64
}

func startMeasure() measure {
	return measure{t0: time.Now(), cpu0: processCPU(), malloc0: memStatsMallocs()}
}

func (m measure) stop() runResult {
	return runResult{elapsed: time.Since(m.t0), cpu: processCPU() - m.cpu0, mallocs: memStatsMallocs() - m.malloc0}
}

// processCPU is the CPU time this process has used, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads the kB figures of /proc/self/status: VmHWM (peak resident set) and
// VmRSS.
func procStatus() (hwmKB, rssKB uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch name {
		case "VmHWM":
			hwmKB = v
		case "VmRSS":
			rssKB = v
		}
	}
	return hwmKB, rssKB
}

// startProfile starts a CPU profile in dir/name.cpu.pprof, or does nothing when dir is
// empty; the function it returns stops it.
func startProfile(dir, name string) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
