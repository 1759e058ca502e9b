package load

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// Build runs `go build -o out pkg` in dir (a directory of the module that
// holds pkg) and returns out's absolute path: the service binary (pkg "."
// in the repository root) or the Go peer ("./peers/gopeer" in bench).
func Build(dir, pkg, out string) (string, error) {
	out, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("load: go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}
