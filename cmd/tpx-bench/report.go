package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// report renders results as a terminal table and as docs/benchmarks.md.
type report struct{ r results }

func (b *bench) report() report {
	b.res.env.synchronousCommit, b.res.env.fsync = b.db.synchronousCommit, b.db.fsync
	b.res.env.loadEnd = loadAverage()
	return report{b.res}
}

// table is a titled table shared by both renderings.
type table struct {
	title  string
	note   string // for the markdown only
	header []string
	rows   [][]string
}

func (rp report) tables() []table {
	r := rp.r
	s := r.sizes
	floors := table{
		title:  "Floors",
		note:   "Each primitive on every core for " + s.cryptoFor.String() + ", divided by the CPU time the process used.",
		header: []string{"measure", "per core-second"},
		rows: [][]string{
			{"RS256 verification of a CI token (SHA-256 + RSA-2048)", num(r.verify.perCore())},
			{"ES256 signature of an upload token (SHA-256 + P-256)", num(r.sign.perCore())},
			{"crypto floor of an exchange: one of each", num(r.cryptoFloor())},
		},
	}
	inproc := table{
		title: "Exchange in process",
		note: fmt.Sprintf("exchange.Service.Exchange on the PostgreSQL store from %d goroutines, %s exchanges, no HTTP; "+
			"as tpx serve wires it, and without the owner UI's observer (which notifies owners after the exchange "+
			"commits; the projects' audit rows are the exchange's own). Per core-second: exchanges divided by the CPU time of the tpx process (PostgreSQL's own "+
			"CPU is not counted).", s.inProcessConc, count(s.inProcess)),
		header: []string{"wiring", "exchanges/s", "per core-second", "of crypto floor", "CPU per exchange", "allocations per exchange", "p50", "p99"},
	}
	for _, w := range []struct {
		name string
		r    runResult
	}{{"tpx serve", r.inProcess}, {"exchange core (no observer)", r.inProcessCore}} {
		in := w.r
		inproc.rows = append(inproc.rows, []string{w.name, num(in.rate()), num(in.perCore()), pct(in.perCore() / r.cryptoFloor()),
			us(time.Duration(float64(in.cpu) / float64(max(in.n, 1)))), num(in.allocsPerOp()), ms(in.p50()), ms(in.p99())})
	}
	e2e := table{
		title: "Exchange end to end over HTTP on loopback",
		note: "Clients in the bench process, server in a child process (its allocations counted there), store as named. " +
			"Floor: the exchange's three writes (its record, which is also the replay and upload-token record; the publisher's last use; " +
			"the project's audit event) " +
			"as one durable transaction driven directly with pgx at the same concurrency (on at most 32 connections), in one " +
			"round trip (pgx batch) and statement by statement (BEGIN … COMMIT). The ratio is to the one-round-trip floor. " +
			"tpx's own pool is as tpx serve sizes it: eight connections per processor.",
		header: []string{"store", "concurrency", "exchanges/s", "p50", "p99", "server allocations per exchange",
			"floor tx/s, 1 round trip", "floor tx/s, stmt by stmt", "of floor"},
	}
	for _, b := range []backendRun{r.postgres, r.sqlite} {
		for _, l := range b.levels {
			row := []string{b.name, itoa(l.c), num(l.run.rate()), ms(l.run.p50()), ms(l.run.p99()), num(l.allocs), "", "", ""}
			if l.floor.n > 0 {
				row[6], row[7], row[8] = num(l.floor.rate()), num(l.floorStep.rate()), pct(l.floorRatio())
			}
			e2e.rows = append(e2e.rows, row)
		}
	}
	rss := table{
		title:  "Peak memory",
		note:   "VmHWM of the server child process, read from its /proc/self/status after its heaviest run (concurrency 128).",
		header: []string{"server", "peak RSS"},
		rows:   [][]string{{"PostgreSQL", mib(r.postgres.peakRSS)}, {"SQLite", mib(r.sqlite.peakRSS)}},
	}
	g := r.growth
	growth := table{
		title: "Growth",
		note: fmt.Sprintf("Sequential exchanges in process on PostgreSQL, tokens for repositories drawn at random from the whole set, "+
			"each size measured right after a checkpoint. The %s publishers were added with COPY in %v. WAL: how far the cluster's WAL "+
			"insert position moved during the case, divided by its exchanges; a page's first change after a checkpoint logs the whole "+
			"page (8 kB).",
			count(s.bigPublishers-s.basePublishers), g.seeded.Round(time.Second)),
		header: []string{"case", "exchanges", "p50", "p99", "p50 ratio", "WAL per exchange"},
	}
	for _, c := range []struct {
		name  string
		r     runResult
		ratio string
	}{
		{count(s.basePublishers) + " publishers", g.small, "1"},
		{count(s.bigPublishers) + " publishers", g.big, times(ratio(g.big.p50(), g.small.p50()))},
		{"one publisher on 1 project", g.oneProject, "1"},
		{"one publisher on " + count(s.multiProjects) + " projects", g.manyProjects, times(ratio(g.manyProjects.p50(), g.oneProject.p50()))},
		{"exchange core (no observer), one publisher on 1 project", g.oneProjectCore, "1"},
		{"exchange core (no observer), one publisher on " + count(s.multiProjects) + " projects", g.manyProjectsCore,
			times(ratio(g.manyProjectsCore.p50(), g.oneProjectCore.p50()))},
	} {
		growth.rows = append(growth.rows, []string{c.name, count(c.r.n), ms(c.r.p50()), ms(c.r.p99()), c.ratio, c.r.wal.per(c.r.n)})
	}
	flood := rp.floodTable()
	targets := table{title: "Targets", header: []string{"target", "measured", "met"}}
	for _, t := range r.targets() {
		met := "no"
		if t.met {
			met = "yes"
		}
		targets.rows = append(targets.rows, []string{t.name, t.measured, met})
	}
	if r.dex == nil {
		return []table{floors, inproc, e2e, rss, growth, rp.tenantsTable(), flood, targets}
	}
	dex := rp.dexTable()
	if r.env.dexOnly {
		return []table{dex}
	}
	return []table{floors, inproc, e2e, dex, rss, growth, rp.tenantsTable(), flood, targets}
}

// floodTable is the key flood.
func (rp report) floodTable() table {
	f := rp.r.flood
	t := table{
		title: "Key flood",
		note: fmt.Sprintf("%s tokens with random unknown kids, at full speed, against the PostgreSQL server, whose key cooldown is "+
			"shortened to %v so that a flood spans several; meanwhile valid exchanges arrive at %s/s from a process of their own "+
			"(latency counted from when each was due). The flood's client is this process, held to one processor (GOMAXPROCS 1) "+
			"during the flood, as an attacker's machines are not the server's; the server is a child process. They share the "+
			"machine's %d cores with the valid sender and PostgreSQL, so the load average (one minute, at the "+
			"start of each row's run) is in each row. A flood request is answered 422 (refused: its key id is unknown) or 503 "+
			"(busy: too many tokens waited to be verified, or a connection whose tokens were refused found no turn in time); both are "+
			"counted. The floods run from 8 and 64 connections, each sending its next token when the last is answered, and from 64 "+
			"senders opening a new connection for each token (\"64 new\"); each lasts until its tokens run out or for as long as a "+
			"run alone, whichever is first. Before each flood and after the last, the same "+
			"valid traffic runs alone; each flood's ratio is to the lower p99 of the runs alone on either side of it.",
			count(f.tokens), f.cooldown, num(f.validRate), rp.r.env.cores),
		header: []string{"flood connections", "flood took", "flood requests/s", "refused (422)", "busy (503)", "JWKS fetches", "allowed", "valid p50", "valid p99", "p99 ratio", "load average"},
	}
	alone := func(a aloneRun) []string {
		return []string{"no flood", "", "", "", "", "", "", ms(a.r.p50()), ms(a.r.p99()), "", a.load}
	}
	for i, fr := range f.runs {
		t.rows = append(t.rows, alone(f.alone[i]), []string{fr.shape.label(), fr.took.Round(time.Millisecond).String(),
			num(float64(fr.refused+fr.busy) / max(fr.took.Seconds(), 1e-9)), count(fr.refused), count(fr.busy),
			itoa(int(fr.jwksFetches)), itoa(int(fr.allowed(f.cooldown))), ms(fr.during.p50()), ms(fr.during.p99()),
			times(f.ratio(i)), fr.load})
	}
	if len(f.runs) > 0 {
		t.rows = append(t.rows, alone(f.alone[len(f.runs)]))
	}
	return t
}

// dexTable is the comparison with Dex.
func (rp report) dexTable() table {
	d := rp.r.dex
	t := table{
		title: "Against Dex",
		note: fmt.Sprintf("%s (-dex), exchanging the same CI tokens from the same test issuer by RFC 8693 token exchange through its OIDC "+
			"connector, signing ES256 ID tokens, storing in a PostgreSQL database of its own on the same server; tpx as above, on "+
			"PostgreSQL. At each concurrency tpx and Dex take %d turns each (-dex-rounds), alternately, the first of each round "+
			"alternating too (tpx, Dex, Dex, tpx, …), with the same load generator; the figures add the turns up, and the rounds' column "+
			"gives the smallest, the median and the largest ratio of one round's two turns. CPU per exchange: the server process's "+
			"user and system time (/proc/PID/stat, 10 ms ticks) and that of the PostgreSQL backends connected to its database, divided by its exchanges. Dex checks no audience on this path, keeps no "+
			"replay record (it accepts a token twice) and matches no publisher.", d.version, d.rounds),
		header: []string{"concurrency", "tpx exchanges/s", "Dex exchanges/s", "tpx / Dex", "tpx / Dex by round (least, median, most)", "tpx p50", "tpx p99", "Dex p50", "Dex p99",
			"tpx server CPU", "Dex server CPU", "tpx PostgreSQL CPU", "Dex PostgreSQL CPU"},
	}
	for _, l := range d.levels {
		lo, median, hi := l.roundSpread()
		t.rows = append(t.rows, []string{itoa(l.c), num(l.tpx.run.rate()), num(l.dex.run.rate()), times(l.ratio()),
			fmt.Sprintf("%.2f, %.2f, %.2f", lo, median, hi),
			ms(l.tpx.run.p50()), ms(l.tpx.run.p99()), ms(l.dex.run.p50()), ms(l.dex.run.p99()),
			us(l.tpx.perExchange(l.tpx.serverCPU)), us(l.dex.perExchange(l.dex.serverCPU)),
			us(l.tpx.perExchange(l.tpx.pgCPU)), us(l.dex.perExchange(l.dex.pgCPU))})
	}
	return t
}

// tenantsTable is the tenants case: a repository's exchange against how many publishers
// other tenants registered for it.
func (rp report) tenantsTable() table {
	t := table{
		title: "Other tenants' publishers",
		note: "Sequential exchanges in process on PostgreSQL for one repository whose owner has one project, with N publishers " +
			"that other users (20 each) registered for the same repository first, on projects with 100-character names: " +
			"half match the job, half are bound to environments it did not run in. \"every project\" is the default " +
			"request; \"named\" asks for the owner's project (`\"project\"` in the request). Ratios are to N = 0. " +
			"Run alone with `go run ./cmd/tpx-bench -tenants`.",
		header: []string{"N", "p50, every project", "ratio", "exchanges/s", "token bytes", "projects covered", "p50, named", "ratio", "token bytes, named"},
	}
	var base tenantRun
	for i, r := range rp.r.tenants {
		if i == 0 {
			base = r
		}
		t.rows = append(t.rows, []string{count(r.others), ms(r.all.p50()), times(ratio(r.all.p50(), base.all.p50())), num(r.all.rate()),
			count(r.tokenBytes), itoa(r.projects), ms(r.named.p50()), times(ratio(r.named.p50(), base.named.p50())), count(r.namedBytes)})
	}
	return t
}

// projectsTable is the -tenants run's case of one publisher on many projects.
func (rp report) projectsTable() table {
	g, s := rp.r.growth, rp.r.sizes
	return table{
		title: "One publisher on many projects",
		note: fmt.Sprintf("Sequential exchanges in process on PostgreSQL, as `tpx serve` wires it: one user's publisher with the same rules "+
			"on 1 project of one repository and on each of %s projects of another, registered through the store; %d rounds of %d "+
			"exchanges each, alternating.", count(s.multiProjects), 4, s.projectsN),
		header: []string{"case", "exchanges", "p50", "p99", "p50 ratio"},
		rows: [][]string{
			{"one publisher on 1 project", count(g.oneProject.n), ms(g.oneProject.p50()), ms(g.oneProject.p99()), "1"},
			{"one publisher on " + count(s.multiProjects) + " projects", count(g.manyProjects.n), ms(g.manyProjects.p50()), ms(g.manyProjects.p99()),
				times(ratio(g.manyProjects.p50(), g.oneProject.p50()))},
		},
	}
}

func (rp report) environmentLine() string {
	e := rp.r.env
	mode := "full run"
	if e.quick {
		mode = "quick run (-quick)"
	}
	return fmt.Sprintf("%s, %s: %s, %d cores (GOMAXPROCS %d), %s, %s, PostgreSQL %s (synchronous_commit %s, fsync %s) on the same machine; "+
		"took %v; load average %s at the start, %s at the end",
		e.when.Format("2006-01-02 15:04 MST"), mode, e.cpu, e.cores, e.procs, e.platform, e.goVersion, e.postgres,
		e.synchronousCommit, e.fsync, rp.r.took.Round(time.Second), e.loadStart, e.loadEnd)
}

// text is the terminal rendering.
func (rp report) text() string {
	return "\n" + rp.environmentLine() + "\n" + render(rp.tables())
}

// render lays tables out for a terminal.
func render(tables []table) string {
	var b strings.Builder
	for _, t := range tables {
		b.WriteString("\n" + t.title + "\n")
		widths := make([]int, len(t.header))
		for _, row := range append([][]string{t.header}, t.rows...) {
			for i, cell := range row {
				widths[i] = max(widths[i], len([]rune(cell)))
			}
		}
		for _, row := range append([][]string{t.header}, t.rows...) {
			b.WriteString(" ")
			for i, cell := range row {
				pad := widths[i] - len([]rune(cell))
				if i > 0 && isNumeric(cell) {
					b.WriteString("  " + strings.Repeat(" ", pad) + cell)
				} else {
					b.WriteString("  " + cell + strings.Repeat(" ", pad))
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func isNumeric(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9')
}

// historyMarker starts the part of docs/benchmarks.md a run keeps as it was: notes written
// by hand, such as before/after figures of optimisations.
const historyMarker = "<!-- kept across runs: everything below this line -->"

// write writes the markdown report to path and the plot next to it, keeping whatever
// followed historyMarker in the previous report.
func (rp report) write(path string) error {
	svgPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".svg"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	history := historyMarker + "\n"
	if old, err := os.ReadFile(path); err == nil {
		if _, kept, ok := strings.Cut(string(old), historyMarker); ok {
			history += strings.TrimLeft(kept, "\n")
		}
	}
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	cmd := "go run ./cmd/tpx-bench"
	if rp.r.env.quick {
		cmd += " -quick"
	}
	if rp.r.dex != nil {
		cmd += " -dex PATH"
		if rp.r.dex.rounds != defaultDexRounds {
			cmd += fmt.Sprintf(" -dex-rounds %d", rp.r.dex.rounds)
		}
	}
	b.WriteString("Written by `" + cmd + "`; every figure below comes from one run of it, floors included.\n\n")
	b.WriteString(rp.environmentLine() + ".\n\n")
	b.WriteString("![Throughput and p99 latency against concurrency](" + filepath.Base(svgPath) + ")\n")
	for _, t := range rp.tables() {
		b.WriteString("\n## " + t.title + "\n\n")
		if t.note != "" {
			b.WriteString(t.note + "\n\n")
		}
		b.WriteString("| " + strings.Join(t.header, " | ") + " |\n|")
		for range t.header {
			b.WriteString(" --- |")
		}
		b.WriteString("\n")
		for _, row := range t.rows {
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	b.WriteString("\n" + methodNotes + "\n" + history)
	if err := os.WriteFile(svgPath, []byte(rp.plot()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

const methodNotes = `## How it measures

- One machine runs everything: the load generator, tpx, PostgreSQL and the test issuer, all
  on loopback. Throughput is what the whole machine sustains; "per core-second" divides by the
  CPU time of the measured Go process alone (getrusage), so PostgreSQL's share is not in it.
- CI tokens are real RS256 tokens from internal/oidctest, signed before any measurement (an
  RSA-2048 signature costs about a millisecond, more than an exchange); each is exchanged once.
  Between phases on one database the exchange records (the replay records) are emptied so that the same tokens serve again.
- Publishers are seeded with COPY, pinned to their repository's numeric ids, one per project,
  each with an environment rule; exchanges cycle over 1,000 of them so that no single row is hot.
- Services are wired as ` + "`tpx serve`" + ` wires them: Prometheus metrics, the owner UI's observer of
  exchanges (notices to owners), and logs as JSON at level Info into
  io.Discard: every line is formatted, none is written.
- The end-to-end server is a child process (this program, started again), so that its
  allocations (runtime.MemStats) and peak RSS (VmHWM in its /proc/self/status) are its own.
- p50 and p99 are nearest-rank quantiles of every request of a run, measured by the client.
`

// Number formatting.

func itoa(n int) string { return strconv.Itoa(n) }

// num is a float rounded to an integer with thousands separators.
func num(f float64) string { return count(int(f + 0.5)) }

// count is an integer with thousands separators.
func count(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pct(f float64) string      { return fmt.Sprintf("%.0f%%", 100*f) }
func times(f float64) string    { return fmt.Sprintf("%.2f×", f) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
func mib(b uint64) string       { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
