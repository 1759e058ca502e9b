// Command faults runs the whole-service fault suite (test/faults) in its
// long versions — the outages of the fault-injection report (30 s of
// JetStream killed, 20 s frozen, 60 s down past the queue, 30 s of Pub/Sub
// and of a dead chat server, 10 minutes of JetStream down behind the
// outbox, …) at 1,000 lines/s — collects each
// scenario's figure and rewrites the README's table with them.
//
// It runs `go test ./test/faults` in the service's module with
// FAULTS_LONG=1, FAULTS_RATE and FAULTS_REPORT set, and
// REQUIRE_INTEGRATION=1 (a missing emulator fails instead of skipping),
// streaming the test output. The table is written even when scenarios
// fail: their rows say FAIL.
//
//	faults                                   # every scenario, long versions; rewrites ../README.md
//	faults -run 'Fault0[1-4]' -rate 2000     # some scenarios, another rate
//	faults -short-versions -race             # what CI runs
//	faults -render out/faults.jsonl          # only rewrite the table from saved figures
//	faults -run 'Fault(18|19)' -keep         # some scenarios; the other rows stay as they are
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ingress-egress/ingress-egress/test/faults"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

func run() error {
	runRE := flag.String("run", "TestFault", "scenarios to run (go test -run)")
	short := flag.Bool("short-versions", false, "run the short versions (CI's durations) instead of the long ones")
	rate := flag.Float64("rate", 0, "lines per second of the generator (0: 1,000 long, 500 short)")
	race := flag.Bool("race", false, "build the service and the suite with the race detector")
	parallel := flag.Int("parallel", 0, "scenarios at once (go test -parallel; 0: GOMAXPROCS)")
	timeout := flag.Duration("timeout", 3*time.Hour, "deadline of the whole run (go test -timeout)")
	out := flag.String("out", "out/faults.jsonl", "figures file (FAULTS_REPORT), truncated first")
	readme := flag.String("readme", "../README.md", "README whose fault-suite table is rewritten; empty: none")
	render := flag.String("render", "", "only rewrite the README's table from this figures file")
	keep := flag.Bool("keep", false, "keep the README's rows of the scenarios this run has no figure for")
	flag.Parse()

	if *render != "" {
		return writeTable(*render, *readme, "", *keep)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	report, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(report), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(report, nil, 0o644); err != nil {
		return err
	}
	args := []string{"test", "-count=1", "-v", "-timeout", timeout.String(), "-run", *runRE}
	if *race {
		args = append(args, "-race")
	}
	if *parallel > 0 {
		args = append(args, "-parallel", strconv.Itoa(*parallel))
	}
	args = append(args, "./test/faults")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "FAULTS_REPORT="+report, "REQUIRE_INTEGRATION=1")
	if !*short {
		cmd.Env = append(cmd.Env, "FAULTS_LONG=1")
	}
	if *rate > 0 {
		cmd.Env = append(cmd.Env, "FAULTS_RATE="+strconv.FormatFloat(*rate, 'f', -1, 64))
	}
	fmt.Fprintf(os.Stderr, "faults: go %s (in %s)\n", strings.Join(args, " "), root)
	testErr := cmd.Run()
	if err := writeTable(report, *readme, caption(root, *short, *race), *keep); err != nil {
		return errors.Join(testErr, err)
	}
	if testErr != nil {
		return fmt.Errorf("go test: %w (the table has the figures of every scenario that ran)", testErr)
	}
	return nil
}

// moduleRoot returns the directory of the service's module, which this
// module replaces with ../.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/ingress-egress/ingress-egress").Output()
	if err != nil {
		return "", fmt.Errorf("finding the service's module: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// caption says which run the figures come from.
func caption(root string, short, race bool) string {
	version := "Long versions"
	if short {
		version = "Short versions (CI's)"
	}
	detector := "without"
	if race {
		detector = "with"
	}
	commit := "?"
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, run %s at commit %s, %s the race detector, on %d CPUs (`bench/cmd/faults`).",
		version, time.Now().UTC().Format("2006-01-02"), commit, detector, runtime.NumCPU())
}

// writeTable prints the table of the figures in report and, unless readme
// is empty, puts it between the README's markers, after the caption if
// there is one (-render keeps the one there). With keep, the README's rows
// of the scenarios report has no figure for stay, and the caption is the
// README's with this run's added for the scenarios it ran.
func writeTable(report, readme, caption string, keep bool) error {
	figs, err := faults.ReadFigures(report)
	if err != nil {
		return err
	}
	if len(figs) == 0 {
		return fmt.Errorf("no figures in %s", report)
	}
	table := faults.Table(figs)
	fmt.Print(table)
	if readme == "" {
		return nil
	}
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	old := currentCaption(string(b))
	switch {
	case keep && caption != "":
		var ids []string
		for _, f := range figs {
			ids = append(ids, f.ID)
		}
		which := "Scenarios "
		if len(ids) == 1 {
			which = "Scenario "
		}
		caption = strings.TrimSpace(old + " " + which + strings.Join(ids, ", ") + ": " +
			strings.ToLower(caption[:1]) + caption[1:])
	case caption == "":
		caption = old
	}
	if keep {
		table = faults.Merge(faults.Current(string(b)), table)
	}
	if caption != "" {
		table = caption + "\n\n" + table
	}
	text, err := faults.Splice(string(b), table)
	if err != nil {
		return fmt.Errorf("%s: %w", readme, err)
	}
	return os.WriteFile(readme, []byte(text), 0o644)
}

// currentCaption returns the caption line of the README's table, or "".
func currentCaption(readme string) string {
	_, after, ok := strings.Cut(readme, faults.BeginMarker+"\n")
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(after, "\n")
	if strings.HasPrefix(line, "|") || strings.HasPrefix(line, "<!--") {
		return ""
	}
	return line
}
