package promcheck

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// repo is the service's repository root, seen from this package.
var repo = filepath.Join("..", "..", "..")

// promql parses PromQL as Prometheus does, with its default options.
var promql = parser.NewParser(parser.Options{})

// TestQueriesAgainstLivePrometheus runs the fake Twitch server, the service
// reading three channels from it into the embedded bus, a second instance
// reading them through its outbox into a nats-server on loopback (the
// outbox's series exist only with the nats and pubsub drivers), and a real
// Prometheus scraping both every second with deploy/prometheus alerts.yaml
// loaded. Midway the fake server is restarted, so that the services
// reconnect and record a gap. Then every dashboard query and every alert
// expression is evaluated through Prometheus's HTTP API and must return
// data, and every alerting rule must have evaluated without error.
func TestQueriesAgainstLivePrometheus(t *testing.T) {
	prometheus := lookPath(t, "prometheus")
	dash := dashboardQueries(t)
	alerts, nRules := alertQueries(t)

	dir := t.TempDir()
	svcBin := goBuild(t, dir, ".", "ingress-egress")
	simBin := goBuild(t, dir, "./twitch/twitchtest/cmd/twitchsim", "twitchsim")
	natsBin := goBuild(t, dir, "github.com/nats-io/nats-server/v2", "nats-server")
	simPort, svcPort, promPort := freePort(t), freePort(t), freePort(t)
	natsPort, natsMon, outboxPort := freePort(t), freePort(t), freePort(t)

	startSim := func() *exec.Cmd {
		return start(t, dir, "twitchsim", nil, simBin, "--channels", "a,b,c", "--rate", "200",
			"--ws", "127.0.0.1:"+simPort, "--tcp", "")
	}
	sim := startSim()
	start(t, dir, "ingress-egress", []string{
		"TWITCH_IRC_URL=ws://127.0.0.1:" + simPort,
		"TWITCH_CHANNELS=a,b,c",
		"PORT=" + svcPort,
		"DATA_DIR=" + filepath.Join(dir, "data"),
		"LOG_FORMAT=json",
		"IRC_RECONNECT_INITIAL_MS=100",
	}, svcBin)
	svc := "http://127.0.0.1:" + svcPort
	waitFor(t, "the service ready on three channels", 60*time.Second, func() bool { return httpStatus(svc+"/readyz") == 200 })

	start(t, dir, "nats-server", nil, natsBin, "-a", "127.0.0.1", "-p", natsPort, "-m", natsMon,
		"-js", "-sd", filepath.Join(dir, "nats"))
	waitFor(t, "nats-server healthy", 60*time.Second, func() bool {
		return httpStatus("http://127.0.0.1:"+natsMon+"/healthz?js-enabled-only=true") == 200
	})
	start(t, dir, "ingress-egress-outbox", []string{
		"TWITCH_IRC_URL=ws://127.0.0.1:" + simPort,
		"TWITCH_CHANNELS=a,b,c",
		"PORT=" + outboxPort,
		"DATA_DIR=" + filepath.Join(dir, "data-outbox"),
		"LOG_FORMAT=json",
		"IRC_RECONNECT_INITIAL_MS=100",
		"MESSAGE_BUS_DRIVER=nats",
		"NATS_URL=nats://127.0.0.1:" + natsPort,
		"NATS_ENSURE_STREAM=true",
		"OUTBOX=disk",
	}, svcBin)
	outboxSvc := "http://127.0.0.1:" + outboxPort
	waitFor(t, "the outbox instance ready", 60*time.Second, func() bool { return httpStatus(outboxSvc+"/readyz") == 200 })

	rules, err := filepath.Abs(filepath.Join(repo, "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: ingress-egress
    static_configs:
      - targets: ["127.0.0.1:%s", "127.0.0.1:%s"]
`, rules, svcPort, outboxPort)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "prometheus", nil, prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address=127.0.0.1:"+promPort, "--log.level=warn")
	prom := "http://127.0.0.1:" + promPort
	waitFor(t, "Prometheus ready", 60*time.Second, func() bool { return httpStatus(prom+"/-/ready") == 200 })

	// Five scrapes under load, then the fake server goes away and comes
	// back: a reconnect, a gap, and the channels joined again.
	waitFor(t, "five scrapes with lines flowing", 60*time.Second, func() bool {
		return len(query(t, prom, `count_over_time(ingress_lines_received_total[1m]) >= 5 and rate(ingress_lines_received_total[1m]) > 0`)) > 0
	})
	stop(t, sim)
	time.Sleep(500 * time.Millisecond) // long enough for the service to see the connection drop
	startSim()
	waitFor(t, "a reconnect and a closed gap scraped", 60*time.Second, func() bool {
		return len(query(t, prom, `ingress_reconnects_total >= 1 and ingress_gaps_total >= 1 and ingress_gaps_open == 0`)) > 0
	})
	waitFor(t, "the channels joined again", 60*time.Second, func() bool { return httpStatus(svc+"/readyz") == 200 })
	waitFor(t, "five more scrapes with lines flowing", 60*time.Second, func() bool {
		return len(query(t, prom, `count_over_time(ingress_reconnects_by_reason_total[1m]) >= 5 and on() rate(ingress_bus_published_total[10s]) > 0`)) > 0
	})
	waitFor(t, "the outbox instance forwarding, five scrapes", 60*time.Second, func() bool {
		return len(query(t, prom, `count_over_time(ingress_outbox_messages[1m]) >= 5 and on() rate(ingress_outbox_forwarded_total[1m]) > 0`)) > 0
	})

	for _, q := range dash {
		if res := query(t, prom, q.expr); len(res) == 0 {
			t.Errorf("dashboard panel %q: %s returns no data", q.name, q.expr)
		}
	}
	for _, q := range alerts {
		if res := query(t, prom, q.expr); len(res) == 0 {
			t.Errorf("alert %s: %s returns no data", q.name, q.expr)
		}
	}
	checkRuleHealth(t, prom, nRules)
	t.Logf("%d dashboard queries and %d alert queries returned data", len(dash), len(alerts))
}

type namedQuery struct{ name, expr string }

// dashboardQueries are the expressions of every panel of dashboard.json,
// with Grafana's variables given the values a fresh dashboard has: every
// instance, and a one-minute rate window.
func dashboardQueries(t *testing.T) []namedQuery {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "deploy", "prometheus", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	r := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")
	var qs []namedQuery
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			expr := r.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: unknown variable in %s", p.Title, tg.Expr)
			}
			if _, err := promql.ParseExpr(expr); err != nil {
				t.Errorf("panel %q: %s: %v", p.Title, expr, err)
			}
			qs = append(qs, namedQuery{p.Title, expr})
		}
	}
	if len(qs) < 20 {
		t.Fatalf("only %d dashboard queries", len(qs))
	}
	return qs
}

// alertQueries are, for every alerting rule, its expression with the
// top-level comparison made a `bool` one (so that it returns 0 or 1 for
// every series instead of only the firing ones), and each series selector
// it reads on its own.
func alertQueries(t *testing.T) ([]namedQuery, int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var qs []namedQuery
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			expr, err := promql.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("alert %s: %v", r.Alert, err)
			}
			top := expr
			for {
				p, ok := top.(*parser.ParenExpr)
				if !ok {
					break
				}
				top = p.Expr
			}
			b, ok := top.(*parser.BinaryExpr)
			if !ok || !b.Op.IsComparisonOperator() {
				t.Fatalf("alert %s: %s is not a comparison", r.Alert, r.Expr)
			}
			b.ReturnBool = true
			qs = append(qs, namedQuery{r.Alert, expr.String()})
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					qs = append(qs, namedQuery{r.Alert + " reads", vs.String()})
				}
				return nil
			})
		}
	}
	return qs, n
}

// checkRuleHealth asks Prometheus for the state of the loaded alerting
// rules: all of them, each evaluated without error.
func checkRuleHealth(t *testing.T, prom string, want int) {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	getJSON(t, prom+"/api/v1/rules?type=alert", &body)
	n := 0
	for _, g := range body.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q, %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n != want {
		t.Errorf("Prometheus loaded %d alerting rules, alerts.yaml has %d", n, want)
	}
}

// query evaluates an instant query and returns its result vector.
func query(t *testing.T, prom, expr string) []json.RawMessage {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string            `json:"resultType"`
			Result     []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	getJSON(t, prom+"/api/v1/query?query="+url.QueryEscape(expr), &body)
	if body.Status != "success" {
		t.Fatalf("query %s: %s", expr, body.Error)
	}
	return body.Data.Result
}

var client = &http.Client{Timeout: 10 * time.Second}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %d: %v", u, resp.StatusCode, err)
	}
}

func httpStatus(u string) int {
	resp, err := client.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond every 200 ms until it holds or the limit passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed (Debian's prometheus package; scripts/setup.sh installs it): %v", name, err)
	}
	return p
}

func goBuild(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// start runs a process with its output in dir/name.log and stops it when
// the test ends; a failed test prints the log's end.
func start(t *testing.T, dir, name string, env []string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		stop(t, cmd)
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log (end):\n%s", name, b)
		}
	})
	return cmd
}

// stop ends a process with SIGTERM, and SIGKILL after 15 s; stopping one
// already stopped does nothing.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
