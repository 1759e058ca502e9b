package main

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// revision is the VCS commit, set at build time with
// -ldflags "-X main.revision=..." where the go command cannot see the
// repository (the container build, whose context has no .git).
var revision string

// buildInfo says which code a binary is: the release or module version, the
// commit, its time and whether the work tree had uncommitted changes.
type buildInfo struct {
	Version  string // -X main.version, else the module version the go command stamped, else "dev"
	Revision string // -X main.revision, else vcs.revision; "" when unknown
	Time     string // vcs.time (RFC 3339, the commit's time); "" when unknown
	Modified bool   // vcs.modified: built from a work tree with changes
	Go       string // the Go release that built the binary
}

// currentBuild is the running binary's buildInfo, read once.
var currentBuild = sync.OnceValue(func() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	b := resolveBuild(version, revision, bi)
	if b.Go == "" {
		b.Go = runtime.Version()
	}
	return b
})

// resolveBuild merges the -X values with what the go command stamped into
// the binary (bi may be nil): a value given with -X wins; "dev" for the
// version counts as not given. A plain go build in a clone stamps the
// module version (v0.0.0-<time>-<commit>[+dirty] without a tag) and the
// vcs.* settings; go build -buildvcs=false and go test stamp neither.
func resolveBuild(xVersion, xRevision string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: xVersion, Revision: xRevision}
	if bi != nil {
		b.Go = bi.GoVersion
		if b.Version == "" || b.Version == "dev" {
			if v := bi.Main.Version; v != "" && v != "(devel)" {
				b.Version = v
			}
		}
		var vcsRevision string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified, _ = strconv.ParseBool(s.Value)
			}
		}
		switch {
		case b.Revision == "":
			b.Revision = vcsRevision
		case vcsRevision != "" && vcsRevision != b.Revision:
			// -X named another commit than the work tree's: the time and
			// the dirty flag belong to the work tree, not to that commit.
			b.Time, b.Modified = "", false
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// String is what `ingress-egress version` prints after the name: the
// version, then the commit, its time and the dirty flag when known, then
// the Go release.
func (b buildInfo) String() string {
	var sb strings.Builder
	sb.WriteString(b.Version)
	if b.Revision != "" {
		sb.WriteString(" revision=" + b.Revision)
		if b.Time != "" {
			sb.WriteString(" time=" + b.Time)
		}
		sb.WriteString(" modified=" + strconv.FormatBool(b.Modified))
	}
	sb.WriteString(" " + b.Go)
	return sb.String()
}

// LogValue writes the build as a group: build.version, build.revision,
// build.time, build.modified, build.go.
func (b buildInfo) LogValue() slog.Value {
	return slog.GroupValue(slog.String("version", b.Version), slog.String("revision", b.Revision),
		slog.String("time", b.Time), slog.Bool("modified", b.Modified), slog.String("go", b.Go))
}
