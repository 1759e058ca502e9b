package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolveBuild(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.11",
		Main:      debug.Module{Path: "github.com/ingress-egress/ingress-egress", Version: "v0.0.0-20261202105839-6412c86d50e2+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "6412c86d50e2061dde2137e89d0982deecfbe1d6"},
			{Key: "vcs.time", Value: "2026-12-02T10:58:39Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	unstamped := &debug.BuildInfo{GoVersion: "go1.26.11", Main: debug.Module{Path: "github.com/ingress-egress/ingress-egress", Version: "(devel)"}}
	tests := []struct {
		name        string
		xVer, xRev  string
		bi          *debug.BuildInfo
		want        buildInfo
		wantVersion string // `version` output after "ingress-egress "
	}{
		{"plain go build in a clone", "dev", "", stamped,
			buildInfo{Version: "v0.0.0-20261202105839-6412c86d50e2+dirty", Revision: "6412c86d50e2061dde2137e89d0982deecfbe1d6", Time: "2026-12-02T10:58:39Z", Modified: true, Go: "go1.26.11"},
			"v0.0.0-20261202105839-6412c86d50e2+dirty revision=6412c86d50e2061dde2137e89d0982deecfbe1d6 time=2026-12-02T10:58:39Z modified=true go1.26.11"},
		{"-X version in a clone keeps the commit", "v1.4.0", "", stamped,
			buildInfo{Version: "v1.4.0", Revision: "6412c86d50e2061dde2137e89d0982deecfbe1d6", Time: "2026-12-02T10:58:39Z", Modified: true, Go: "go1.26.11"},
			"v1.4.0 revision=6412c86d50e2061dde2137e89d0982deecfbe1d6 time=2026-12-02T10:58:39Z modified=true go1.26.11"},
		{"container build: -X version and revision, no .git", "v1.4.0", "0123456789abcdef0123456789abcdef01234567", unstamped,
			buildInfo{Version: "v1.4.0", Revision: "0123456789abcdef0123456789abcdef01234567", Go: "go1.26.11"},
			"v1.4.0 revision=0123456789abcdef0123456789abcdef01234567 modified=false go1.26.11"},
		{"-X revision of another commit drops the work tree's time and flag", "", "0123456789abcdef0123456789abcdef01234567", stamped,
			buildInfo{Version: "v0.0.0-20261202105839-6412c86d50e2+dirty", Revision: "0123456789abcdef0123456789abcdef01234567", Go: "go1.26.11"},
			"v0.0.0-20261202105839-6412c86d50e2+dirty revision=0123456789abcdef0123456789abcdef01234567 modified=false go1.26.11"},
		{"-buildvcs=false", "dev", "", unstamped, buildInfo{Version: "dev", Go: "go1.26.11"}, "dev go1.26.11"},
		{"no build info", "dev", "", nil, buildInfo{Version: "dev"}, "dev "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resolveBuild(tc.xVer, tc.xRev, tc.bi)
			if got != tc.want {
				t.Errorf("resolveBuild(%q, %q) = %+v, want %+v", tc.xVer, tc.xRev, got, tc.want)
			}
			if s := got.String(); s != tc.wantVersion {
				t.Errorf("String() = %q, want %q", s, tc.wantVersion)
			}
		})
	}
}

func TestBuildInLogsAndMetrics(t *testing.T) {
	b := currentBuild()
	var buf bytes.Buffer
	newLogger(&buf, "json", slog.LevelInfo, "").Info("starting", "build", b)
	var rec struct {
		Build map[string]any `json:"build"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	for _, k := range []string{"version", "revision", "time", "modified", "go"} {
		if _, ok := rec.Build[k]; !ok {
			t.Errorf("starting log line %s has no build.%s", buf.String(), k)
		}
	}
	if rec.Build["version"] != b.Version || rec.Build["go"] != b.Go {
		t.Errorf("build group %v, want version %q go %q", rec.Build, b.Version, b.Go)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, noEnv, nil, &out, &errOut); code != 0 || out.String() != "ingress-egress "+b.String()+"\n" {
		t.Errorf("version: exit %d, %q, want %q", code, out.String(), "ingress-egress "+b.String())
	}
	if !strings.HasSuffix(b.String(), " "+b.Go) || b.Go == "" {
		t.Errorf("version %q does not end with the Go release", b.String())
	}
}
