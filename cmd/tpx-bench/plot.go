package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// series is one line of a panel: a value per concurrency level.
type series struct {
	name   string
	color  string
	dashed bool
	values []float64
}

// plot draws two panels, throughput and latency against concurrency, as SVG.
func (rp report) plot() string {
	r := rp.r
	var levels []int
	for _, l := range r.postgres.levels {
		levels = append(levels, l.c)
	}
	pick := func(b backendRun, f func(level) float64) []float64 {
		out := make([]float64, len(b.levels))
		for i, l := range b.levels {
			out[i] = f(l)
		}
		return out
	}
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	throughput := []series{
		{"PostgreSQL floor, 1 round trip", "#9e9e9e", true, pick(r.postgres, func(l level) float64 { return l.floor.rate() })},
		{"PostgreSQL floor, stmt by stmt", "#cfcfcf", true, pick(r.postgres, func(l level) float64 { return l.floorStep.rate() })},
		{"tpx on PostgreSQL", "#1f77b4", false, pick(r.postgres, func(l level) float64 { return l.run.rate() })},
		{"tpx on SQLite", "#ff7f0e", false, pick(r.sqlite, func(l level) float64 { return l.run.rate() })},
	}
	latency := []series{
		{"PostgreSQL p99", "#1f77b4", false, pick(r.postgres, func(l level) float64 { return msOf(l.run.p99()) })},
		{"PostgreSQL p50", "#1f77b4", true, pick(r.postgres, func(l level) float64 { return msOf(l.run.p50()) })},
		{"SQLite p99", "#ff7f0e", false, pick(r.sqlite, func(l level) float64 { return msOf(l.run.p99()) })},
		{"SQLite p50", "#ff7f0e", true, pick(r.sqlite, func(l level) float64 { return msOf(l.run.p50()) })},
	}
	const w, h = 960, 440
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	panel(&b, 70, 40, 380, 260, "Exchanges per second, end to end", "exchanges/s", false, levels, throughput)
	panel(&b, 560, 40, 380, 260, "Latency, end to end (log scale)", "ms", true, levels, latency)
	b.WriteString("</svg>\n")
	return b.String()
}

// panel draws one chart with its axes at (x, y), size w×h, legend below; logY puts the
// values on a logarithmic scale with a tick at each power of ten.
func panel(b *strings.Builder, x, y, w, h float64, title, unit string, logY bool, levels []int, ss []series) {
	lo, hi := math.Inf(1), 0.0
	for _, s := range ss {
		for _, v := range s.values {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	var ticks []float64
	var py func(v float64) float64
	if logY {
		if hi == 0 {
			lo, hi = 1, 10
		}
		a, z := math.Floor(math.Log10(lo)), math.Max(math.Ceil(math.Log10(hi)), math.Floor(math.Log10(lo))+1)
		for e := a; e <= z; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
		py = func(v float64) float64 { return y + h - (math.Log10(math.Max(v, ticks[0]))-a)/(z-a)*h }
	} else {
		step := niceStep(hi / 5)
		top := math.Max(step, math.Ceil(hi/step)*step)
		for v := 0.0; v <= top+step/2; v += step {
			ticks = append(ticks, v)
		}
		py = func(v float64) float64 { return y + h - v/top*h }
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-size="14" font-weight="bold">%s</text>`+"\n", x, y-15, title)
	for _, v := range ticks {
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`+"\n", x, py(v), x+w, py(v))
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", x-6, py(v)+4, axisLabel(v))
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle" transform="rotate(-90 %.0f %.0f)">%s</text>`+"\n", x-50, y+h/2, x-50, y+h/2, unit)
	px := func(i int) float64 {
		if len(levels) < 2 {
			return x + w/2
		}
		return x + 20 + float64(i)*(w-40)/float64(len(levels)-1)
	}
	for i, c := range levels {
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", px(i), y+h+18, c)
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">concurrent requests</text>`+"\n", x+w/2, y+h+36)
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", x, y, w, h)
	for k, s := range ss {
		var pts []string
		for i, v := range s.values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(i), py(v)))
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], s.color)
		}
		ly := y + h + 56 + float64(k)*18
		lx := x
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+24, ly-4, s.color, dash)
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", lx+30, ly, s.name)
	}
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(v float64) string {
	if v == math.Trunc(v) {
		return count(int(v))
	}
	return fmt.Sprintf("%g", v)
}
