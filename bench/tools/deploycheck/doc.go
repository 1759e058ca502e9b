// Package deploycheck checks the deployment files under deploy/ offline, in
// its tests: every kustomization under deploy/kubernetes renders with
// `kubectl kustomize`, every rendered object decodes strictly (no unknown,
// misplaced or duplicate field, no wrong type) into its k8s.io/api type, and
// the Deployment meets the restricted Pod Security profile, probes /livez
// and /readyz, gives SHUTDOWN_TIMEOUT + 2 s to stop, mounts a volume at
// DATA_DIR and sets only the service's own settings, secrets by reference.
// Every overlay but overlays/cluster runs one replica with CLUSTER off;
// overlays/cluster is checked for what cluster mode needs instead (CLUSTER
// nats on the nats bus, CLUSTER_REPLICAS >= 2 and more pods than that, a
// rolling update with maxUnavailable 0 and a surge, a startup probe on
// /readyz with time to join, a PodDisruptionBudget of one pod, a grace
// period covering SHUTDOWN_TIMEOUT), and those checks are shown to fail on
// a changed copy.
// deploy/cloudrun/service.yaml is checked the same way against Knative
// Serving's Service shape and Cloud Run's limits.
package deploycheck
