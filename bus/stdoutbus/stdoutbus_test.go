package stdoutbus_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/stdoutbus"
)

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts stdoutbus.Options
		data string
		want string
	}{
		{"envelope", stdoutbus.Options{}, `{"v":"1","x":"a\nb"}`, `{"v":"1","x":"a\nb"}`},
		{"pretty json compacted", stdoutbus.Options{}, "{\n  \"v\": \"1\"\n}", `{"v":"1"}`},
		{"not json", stdoutbus.Options{}, "hello\nworld", `"hello\nworld"`},
		{"invalid utf-8", stdoutbus.Options{}, "\xff", `"\ufffd"`},
		{"with subject", stdoutbus.Options{WithSubject: true}, `{"v":"1"}`, `{"subject":"s.internal.ingress.v1","msgId":"id\"1","data":{"v":"1"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := bus.New(stdoutbus.New(&out, tc.opts), bus.Options{})
			for range 3 {
				if err := p.Publish(context.Background(), bus.Message{Subject: "s.internal.ingress.v1", MsgID: `id"1`, Data: []byte(tc.data)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(&out)
			n := 0
			for sc.Scan() {
				n++
				if sc.Text() != tc.want {
					t.Errorf("line = %s, want %s", sc.Text(), tc.want)
				}
				if !json.Valid(sc.Bytes()) {
					t.Errorf("line %s is not JSON", sc.Text())
				}
			}
			if n != 3 {
				t.Errorf("%d lines, want 3", n)
			}
		})
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("write |1: broken pipe") }

func TestWriteErrorIsCountedLost(t *testing.T) {
	p := bus.New(stdoutbus.New(brokenWriter{}, stdoutbus.Options{}), bus.Options{Logger: slog.New(slog.DiscardHandler)})
	p.Publish(context.Background(), bus.Message{Subject: "s", Data: []byte(`{}`)})
	rep, _ := p.Close(context.Background())
	if s := rep.Stats; s.Lost != 1 || s.Permanent != 1 || s.Acked != 0 {
		t.Errorf("stats = %+v, want 1 lost after a permanent write error", s)
	}
}
