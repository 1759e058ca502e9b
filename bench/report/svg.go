package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/ingress-egress/ingress-egress/bench/load"
)

var colors = map[string]string{load.Ours: "#1f77b4", load.GoPeer: "#ff7f0e", load.Twurple: "#2ca02c", load.Floor: "#7f7f7f"}

// chartTargets are the targets the chart has bars for: the service and the
// peers always, the floor when it was run.
func (d *Data) chartTargets() []string {
	for _, r := range d.Results {
		if r.Target == load.Floor {
			return targets
		}
	}
	return slices.DeleteFunc(slices.Clone(targets), func(t string) bool { return t == load.Floor })
}

// groups of the chart's x axis: the scenarios by channel count and rate,
// then the saturation maximum.
var chartGroups = []struct{ key, label string }{
	{"one", "1 ch, max"},
	{"hundred", "100 ch, 10k/s"},
	{"thousand", "1k ch, 10k/s"},
	{"tenk", "10k ch, 50k/s"},
	{"saturate", "max sustained"},
}

// SVG writes the chart: for core NATS and for JetStream, envelopes/s
// acknowledged and p99 latency per scenario, one bar per target (log
// scales), and the soak run's RSS over time when there is one.
func SVG(w io.Writer, d *Data) error {
	var b strings.Builder
	const W, panelW, panelH = 1000, 470, 300
	var soaks []*load.Result
	for _, b := range buses {
		if r := d.latest("soak", load.Ours, b); r != nil && len(r.RSS) > 1 {
			soaks = append(soaks, r)
		}
	}
	H := 60 + 2*(panelH+50) + 260*len(soaks)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="20" y="24" font-size="16" font-weight="bold">ingress-egress vs peers: throughput and p99 latency (%d × %s, %s)</text>`+"\n",
		d.Machine.NProc, html.EscapeString(shortModel(d.Machine.Model)), d.Machine.Date.Format("2006-01-02"))
	// Legend.
	lx := 20
	ts := d.chartTargets()
	for _, t := range ts {
		fmt.Fprintf(&b, `<rect x="%d" y="36" width="12" height="12" fill="%s"/><text x="%d" y="46">%s</text>`+"\n", lx, colors[t], lx+16, t)
		lx += 150
	}
	y := 60
	for _, bus := range []string{"core", "jetstream"} {
		thr := make([][]float64, len(chartGroups))
		lat := make([][]float64, len(chartGroups))
		for gi, g := range chartGroups {
			thr[gi] = make([]float64, len(ts))
			lat[gi] = make([]float64, len(ts))
			for ti, t := range ts {
				if g.key == "saturate" {
					if s := d.saturation(t, bus); s != nil && s.MaxResult != nil {
						thr[gi][ti] = s.Max
						lat[gi][ti] = s.MaxResult.Check.Latency.P99.Seconds() * 1000
					}
					continue
				}
				if r := d.latest(g.key, t, bus); r != nil && r.Check.Delivered > 0 {
					thr[gi][ti] = r.AckedPerSec
					lat[gi][ti] = r.Check.Latency.P99.Seconds() * 1000
				}
			}
		}
		name := map[string]string{"core": "core NATS", "jetstream": "JetStream (acked, Nats-Msg-Id)"}[bus]
		bars(&b, 20, y, panelW, panelH, "envelopes/s read back — "+name, ts, thr, "/s")
		bars(&b, 20+panelW+20, y, panelW, panelH, "p99 send → receipt, ms — "+name, ts, lat, " ms")
		y += panelH + 50
	}
	for _, soak := range soaks {
		line(&b, 20, y, W-40, 220, fmt.Sprintf("soak: service RSS (MiB) every second, 1,000 channels at 10k lines/s for %.0f s (%s)", soak.Seconds, soak.Bus), soak.RSS)
		y += 260
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func shortModel(m string) string {
	m = strings.ReplaceAll(m, "(R)", "")
	m = strings.ReplaceAll(m, " Processor", "")
	return strings.Join(strings.Fields(m), " ")
}

// bars draws a grouped bar panel with a log y axis, v[group][target] with
// the targets ts; zero values are not drawn.
func bars(b *strings.Builder, x, y, w, h int, title string, ts []string, v [][]float64, unit string) {
	fmt.Fprintf(b, `<g transform="translate(%d,%d)">`+"\n", x, y)
	fmt.Fprintf(b, `<text x="0" y="0" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	lo, hi := math.Inf(1), 0.0
	for _, g := range v {
		for _, s := range g {
			if s > 0 {
				lo, hi = math.Min(lo, s), math.Max(hi, s)
			}
		}
	}
	const left, top, bottom = 50, 12, 40
	ph := h - top - bottom
	pw := w - left
	if hi == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" fill="#888">no data</text></g>`+"\n", left+20, top+ph/2)
		return
	}
	e0, e1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if e1 <= e0 {
		e1 = e0 + 1
	}
	yOf := func(val float64) float64 {
		return float64(top+ph) - (math.Log10(val)-e0)/(e1-e0)*float64(ph)
	}
	for e := e0; e <= e1; e++ {
		yy := yOf(math.Pow(10, e))
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n",
			left, left+pw, yy, yy, left-4, yy+4, tick(math.Pow(10, e)))
	}
	gw := float64(pw) / float64(len(v))
	bw := gw * 0.8 / float64(len(ts))
	for gi, g := range v {
		gx := float64(left) + gw*float64(gi) + gw*0.1
		for ti, s := range g {
			if s <= 0 {
				continue
			}
			bx := gx + bw*float64(ti)
			by := yOf(s)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s%s</title></rect>`+"\n",
				bx, by, bw-1, float64(top+ph)-by, colors[ts[ti]], ts[ti], label(s), unit)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">%s</text>`+"\n", bx+bw/2, by-2, label(s))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+gw*0.4, top+ph+16, html.EscapeString(chartGroups[gi].label))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/></g>`+"\n", left, left+pw, top+ph, top+ph)
}

// line draws samples (bytes) as a line in MiB, with a linear y axis from 0.
func line(b *strings.Builder, x, y, w, h int, title string, s []int64) {
	fmt.Fprintf(b, `<g transform="translate(%d,%d)">`+"\n", x, y)
	fmt.Fprintf(b, `<text x="0" y="0" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	const left, top, bottom = 50, 12, 30
	ph, pw := h-top-bottom, w-left
	hi := 0.0
	for _, v := range s {
		hi = math.Max(hi, float64(v)/(1<<20))
	}
	hi = math.Max(64, math.Ceil(hi/16)*16)
	for t := 0.0; t <= hi; t += 16 {
		yy := float64(top+ph) - t/hi*float64(ph)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">%.0f</text>`+"\n",
			left, left+pw, yy, yy, left-4, yy+4, t)
	}
	y64 := float64(top+ph) - 64/hi*float64(ph)
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="4 3"/><text x="%d" y="%.1f" fill="#d62728" text-anchor="end">64 MiB target</text>`+"\n",
		left, left+pw, y64, y64, left+pw, y64-4)
	var pts []string
	for i, v := range s {
		px := float64(left) + float64(i)/float64(len(s)-1)*float64(pw)
		py := float64(top+ph) - float64(v)/(1<<20)/hi*float64(ph)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", colors[load.Ours], strings.Join(pts, " "))
	for m := 0; m <= len(s); m += 60 {
		px := float64(left) + float64(m)/float64(len(s)-1)*float64(pw)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%d min</text>`+"\n", px, top+ph+16, m/60)
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/></g>`+"\n", left, left+pw, top+ph, top+ph)
}

func tick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

func label(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
