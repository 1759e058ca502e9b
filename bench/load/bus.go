package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Bus is a NATS server with JetStream that the runs share: in this process
// (PID 0, its CPU counted with the harness) or a child process (its own PID,
// so that its CPU seconds are reported apart).
type Bus struct {
	// URL is the server's client URL, nats://127.0.0.1:PORT.
	URL string
	// PID is the child process's id, or 0 when the server runs in this
	// process.
	PID int

	srv *server.Server
	cmd *exec.Cmd
}

// StartBus starts an in-process nats-server with JetStream on a free port of
// 127.0.0.1, storing under dir.
func StartBus(dir string) (*Bus, error) {
	s, err := newServer(dir, -1)
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("load: nats-server not ready after 10 s")
	}
	return &Bus{URL: s.ClientURL(), srv: s}, nil
}

func newServer(dir string, port int) (*server.Server, error) {
	return server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
		// Room for the peers' and the consumer's bursts at saturation.
		MaxPending: 256 << 20,
	})
}

// ServeBusEnv names the environment variable that makes a harness binary
// serve the bus instead of running (see StartBusProcess and ServeBus).
const ServeBusEnv = "LOAD_SERVE_BUS_DIR"

// StartBusProcess starts the bus as a child process: the binary exe (the
// harness itself, os.Executable()) run with ServeBusEnv set, which must call
// ServeBus first thing in main. The child prints its URL on stdout and
// serves until stdin closes or it is stopped.
func StartBusProcess(ctx context.Context, exe, dir string) (*Bus, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ServeBusEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	_ = in // held open for the child's lifetime; closed by Stop via Process
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load: start bus: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "nats://") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("load: bus child said %q", l)
		}
		return &Bus{URL: l, PID: cmd.Process.Pid, cmd: cmd}, nil
	case <-time.After(20 * time.Second):
	case <-ctx.Done():
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, errors.New("load: bus child did not start")
}

// ServeBus serves the bus when this process was started by
// StartBusProcess (it reports false at once otherwise): it prints the URL,
// serves until stdin reaches EOF or the process is signalled, and returns
// true.
func ServeBus() bool {
	dir := os.Getenv(ServeBusEnv)
	if dir == "" {
		return false
	}
	s, err := newServer(dir, -1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load bus:", err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "load bus: not ready")
		os.Exit(1)
	}
	fmt.Println(s.ClientURL())
	buf := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			break
		}
	}
	s.Shutdown()
	s.WaitForShutdown()
	return true
}

// CPU returns the bus process's CPU seconds, or 0 in process.
func (b *Bus) CPU() float64 {
	if b.PID == 0 {
		return 0
	}
	c, _ := ProcCPU(b.PID)
	return c
}

// Stop stops the bus and waits for it.
func (b *Bus) Stop() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	if b.cmd != nil {
		_ = b.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-done
		}
	}
}
