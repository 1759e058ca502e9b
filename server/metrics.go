package server

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// MetricWriter writes the Prometheus text exposition format (version
// 0.0.4). It writes each family's HELP and TYPE once, before its first
// sample; callers write all samples of a family together.
type MetricWriter struct {
	w    io.Writer
	last string
	buf  []byte
}

// NewMetricWriter returns a MetricWriter on w.
func NewMetricWriter(w io.Writer) *MetricWriter { return &MetricWriter{w: w} }

// Label is one label pair.
type Label struct{ Name, Value string }

// L builds labels from name, value pairs.
func L(pairs ...string) []Label {
	ls := make([]Label, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ls = append(ls, Label{pairs[i], pairs[i+1]})
	}
	return ls
}

func (m *MetricWriter) header(name, help, typ string) {
	if m.last == name {
		return
	}
	m.last = name
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

func (m *MetricWriter) sample(name string, labels []Label, v float64) {
	b := append(m.buf[:0], name...)
	if len(labels) > 0 {
		b = append(b, '{')
		for i, l := range labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l.Name...)
			b = append(b, '=', '"')
			b = appendLabelValue(b, l.Value)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, v)
	b = append(b, '\n')
	m.buf = b
	m.w.Write(b)
}

// Counter writes one sample of a counter family.
func (m *MetricWriter) Counter(name, help string, v float64, labels ...Label) {
	m.header(name, help, "counter")
	m.sample(name, labels, v)
}

// Gauge writes one sample of a gauge family.
func (m *MetricWriter) Gauge(name, help string, v float64, labels ...Label) {
	m.header(name, help, "gauge")
	m.sample(name, labels, v)
}

// Histogram writes a histogram from cumulative-ready bucket counts:
// counts[i] is the number of observations <= bounds[i] and not in an
// earlier bucket; count is the total (including those above every bound).
func (m *MetricWriter) Histogram(name, help string, bounds []float64, counts []uint64, count uint64, sum float64, labels ...Label) {
	m.header(name, help, "histogram")
	var cum uint64
	for i, ub := range bounds {
		cum += counts[i]
		m.sample(name+"_bucket", append(labels[:len(labels):len(labels)], Label{"le", string(appendFloat(nil, ub))}), float64(cum))
	}
	m.sample(name+"_bucket", append(labels[:len(labels):len(labels)], Label{"le", "+Inf"}), float64(count))
	m.sample(name+"_sum", labels, sum)
	m.sample(name+"_count", labels, float64(count))
}

// CounterMap writes a counter family with one label from a map, in
// sorted order.
func (m *MetricWriter) CounterMap(name, help, label string, values map[string]uint64) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.Counter(name, help, float64(values[k]), Label{label, k})
	}
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
