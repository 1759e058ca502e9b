// Package deploycheck checks the deployment files under deploy/ offline, in
// its tests: every kustomization under deploy/kubernetes renders with
// `kubectl kustomize`, every rendered object decodes strictly (no unknown,
// misplaced or duplicate field, no wrong type) into its k8s.io/api type, and
// the Deployment meets the restricted Pod Security profile, probes /livez
// and /readyz, gives SHUTDOWN_TIMEOUT + 2 s to stop, mounts a volume at
// DATA_DIR and sets only the service's own settings, secrets by reference.
// deploy/cloudrun/service.yaml is checked the same way against Knative
// Serving's Service shape and Cloud Run's limits.
package deploycheck
