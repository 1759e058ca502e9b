// Package stdoutbus is the bus transport that writes each message as one
// JSON line to an io.Writer (os.Stdout in the service, while logs go to
// stderr): for piping into jq and for demos. A message counts as delivered
// once its line is written; there is no acknowledgement beyond that.
package stdoutbus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/ingress-egress/ingress-egress/bus"
)

// Options configure a Driver. The zero value writes bare envelopes.
type Options struct {
	// WithSubject wraps each line as {"subject":…,"msgId":…,"data":ENVELOPE}
	// so that failure events can be told apart. Default off: the line is
	// the envelope itself.
	WithSubject bool
}

// Driver writes JSON lines. It implements bus.Driver; it is safe for
// concurrent use.
type Driver struct {
	opts Options
	mu   sync.Mutex
	w    *bufio.Writer
	tmp  []byte
}

// New returns a Driver writing to w. It does not close w.
func New(w io.Writer, opts Options) *Driver {
	return &Driver{opts: opts, w: bufio.NewWriterSize(w, 64<<10)}
}

// Send implements bus.Driver: it writes the batch's lines and flushes once.
// A write error fails the whole batch permanently (nobody is reading).
func (d *Driver) Send(ctx context.Context, b *bus.Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range b.Msgs {
		m := &b.Msgs[i]
		if d.opts.WithSubject {
			d.w.WriteString(`{"subject":`)
			d.writeString(m.Subject)
			if m.MsgID != "" {
				d.w.WriteString(`,"msgId":`)
				d.writeString(m.MsgID)
			}
			d.w.WriteString(`,"data":`)
			d.writeJSON(m.Data)
			d.w.WriteString("}\n")
			continue
		}
		d.writeJSON(m.Data)
		d.w.WriteByte('\n')
	}
	if err := d.w.Flush(); err != nil {
		err = bus.Permanent(err)
		for i := range b.Errs {
			b.Errs[i] = err
		}
	}
}

// writeJSON writes data as one line: as is when it is JSON without a line
// break, compacted when it is JSON with line breaks, and as a JSON string
// otherwise.
func (d *Driver) writeJSON(data []byte) {
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 && json.Valid(data) {
		d.w.Write(data)
		return
	}
	buf := bytes.NewBuffer(d.tmp[:0])
	if err := json.Compact(buf, data); err == nil {
		d.w.Write(buf.Bytes())
	} else {
		d.writeString(string(data))
	}
	d.tmp = buf.Bytes()[:0]
}

func (d *Driver) writeString(s string) {
	b, _ := json.Marshal(s)
	d.w.Write(b)
}

// Wait implements bus.Driver; Send did the work.
func (d *Driver) Wait(context.Context, *bus.Batch) {}

// Close flushes. It does not close the writer.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w.Flush()
}
