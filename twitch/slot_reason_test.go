package twitch

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestReasonClass(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{ErrServerReconnect, "server_reconnect"},
		{fmt.Errorf("session 3: %w", ErrPongTimeout), "pong_timeout"},
		{ErrLoginFailed, "login_failed"},
		{ErrRegisterTimeout, "register_timeout"},
		{ErrWriteStalled, "write_stalled"},
		{fmt.Errorf("read: %w", io.EOF), "closed_by_server"},
		{errors.New("read tcp 127.0.0.1:1: connection reset by peer"), "error"},
	} {
		if got := reasonClass(c.err); got != c.want {
			t.Errorf("reasonClass(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
