// Package tools pins the programs that check the service's supply chain and
// deployment files, in a module of their own so that none of them enters
// the service's module graph:
//
//   - cyclonedx-gomod writes the CycloneDX SBOM (scripts/sbom.sh);
//   - govulncheck checks the code against a local copy of the Go
//     vulnerability database, which indexdb builds from the
//     golang.org/x/vulndb module (scripts/vulncheck.sh);
//   - k8s.io/api and sigs.k8s.io/yaml check the manifests under deploy/
//     (package deploycheck);
//   - Prometheus's PromQL parser reads the alert expressions that package
//     promcheck evaluates on a live Prometheus.
//
// Run them with `go tool NAME` from this directory.
package tools
