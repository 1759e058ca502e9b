package deploycheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// repo is the service's repository root, seen from this package.
var repo = filepath.Join("..", "..", "..")

// setting is one of the service's settings as its --help lists it.
type setting struct {
	name, def string
	secret    bool
}

// serviceSettings builds the service and reads every setting from its
// --help: the manifests may set only those (and the Go runtime's).
func serviceSettings(t *testing.T) map[string]setting {
	t.Helper()
	settingsOnce.Do(func() { settingsMemo = readSettings(t) })
	if settingsMemo == nil {
		t.Fatal("the service's settings could not be read")
	}
	return settingsMemo
}

var (
	settingsOnce sync.Once
	settingsMemo map[string]setting
)

func readSettings(t *testing.T) map[string]setting {
	bin := filepath.Join(t.TempDir(), "ingress-egress")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, _ := exec.Command(bin, "--help").CombinedOutput()
	head := regexp.MustCompile(`^  ([A-Z][A-Z0-9_]+) +--[a-z0-9-]+ +default (.*)$`)
	got := map[string]setting{}
	var last string
	for _, l := range strings.Split(string(out), "\n") {
		if m := head.FindStringSubmatch(l); m != nil {
			last = m[1]
			got[last] = setting{name: m[1], def: m[2]}
			continue
		}
		if last != "" && strings.HasPrefix(l, "      ") && strings.Contains(l, "(secret)") {
			s := got[last]
			s.secret = true
			got[last] = s
		}
	}
	for _, want := range []string{"MESSAGE_BUS_DRIVER", "DATA_DIR", "SHUTDOWN_TIMEOUT", "TWITCH_OAUTH_TOKEN"} {
		if _, ok := got[want]; !ok {
			t.Fatalf("--help lists no %s:\n%s", want, out)
		}
	}
	if !got["TWITCH_OAUTH_TOKEN"].secret || got["TWITCH_CHANNELS"].secret {
		t.Fatalf("--help secret markers not understood: %+v", got)
	}
	for _, name := range alsoSecret {
		s, ok := got[name]
		if !ok {
			t.Fatalf("--help lists no %s", name)
		}
		s.secret = true
		got[name] = s
	}
	return got
}

// alsoSecret are settings that --help does not mark "(secret)" but that
// must come from a Secret all the same.
var alsoSecret = []string{"TWITCH_CLIENT_SECRET", "ADMIN_TOKEN"}

// runtimeEnv are the variables the manifests may set that are not the
// service's own settings.
var runtimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOOGLE_CLOUD_PROJECT"}

// render runs kubectl kustomize on a directory of deploy/kubernetes.
func render(t *testing.T, dir string) []byte {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed to render the kustomizations (it ships with this machine kind): %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(repo, "deploy", "kubernetes", dir))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

// objects are the rendered objects of one kustomization, decoded strictly.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	accounts    []*corev1.ServiceAccount
	claims      []*corev1.PersistentVolumeClaim
}

// decodeStrict decodes one YAML document into the k8s.io/api type of its
// apiVersion and kind, failing on an unknown kind, an unknown or duplicate
// field, or a value of the wrong type.
func decodeStrict(doc []byte, objs *objects) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var into any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		o := new(appsv1.Deployment)
		objs.deployments, into = append(objs.deployments, o), o
	case "v1 Service":
		o := new(corev1.Service)
		objs.services, into = append(objs.services, o), o
	case "policy/v1 PodDisruptionBudget":
		o := new(policyv1.PodDisruptionBudget)
		objs.pdbs, into = append(objs.pdbs, o), o
	case "v1 ServiceAccount":
		o := new(corev1.ServiceAccount)
		objs.accounts, into = append(objs.accounts, o), o
	case "v1 PersistentVolumeClaim":
		o := new(corev1.PersistentVolumeClaim)
		objs.claims, into = append(objs.claims, o), o
	default:
		return fmt.Errorf("unexpected object %s %s", tm.APIVersion, tm.Kind)
	}
	return yaml.UnmarshalStrict(doc, into)
}

func decodeAll(t *testing.T, rendered []byte) objects {
	t.Helper()
	var objs objects
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for n := 0; n < 100; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("document %d: %v", n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		if err := decodeStrict(doc, &objs); err != nil {
			t.Errorf("document %d does not decode strictly: %v\n%s", n, err, doc)
		}
	}
	t.Fatal("more than 100 documents")
	return objs
}

func TestKustomizations(t *testing.T) {
	settings := serviceSettings(t)
	for _, tc := range []struct {
		dir, driver string
		dataVolume  string // "emptyDir" or "persistentVolumeClaim"
		cluster     bool   // CLUSTER=nats: several replicas share the channels
	}{
		{"base", "", "emptyDir", false},
		{"overlays/embedded", "embedded", "persistentVolumeClaim", false},
		{"overlays/nats", "nats", "emptyDir", false},
		{"overlays/cluster", "nats", "emptyDir", true},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			objs := decodeAll(t, render(t, tc.dir))
			if len(objs.deployments) != 1 || len(objs.services) != 1 || len(objs.pdbs) != 1 || len(objs.accounts) != 1 {
				t.Fatalf("want one Deployment, Service, PodDisruptionBudget and ServiceAccount; got %d, %d, %d, %d",
					len(objs.deployments), len(objs.services), len(objs.pdbs), len(objs.accounts))
			}
			d := objs.deployments[0]
			checkDeployment(t, d, settings, tc.cluster)
			var problems []string
			if tc.cluster {
				problems = clusterProblems(d, objs.pdbs[0], settings)
			} else {
				problems = singleProblems(d)
			}
			for _, p := range problems {
				t.Error(p)
			}
			env := envOf(d.Spec.Template.Spec.Containers[0])
			if got := env["MESSAGE_BUS_DRIVER"].Value; got != tc.driver {
				t.Errorf("MESSAGE_BUS_DRIVER = %q, want %q", got, tc.driver)
			}
			if tc.driver == "nats" && env["NATS_URL"].Value == "" {
				t.Errorf("the nats overlay sets no NATS_URL")
			}
			data := dataVolume(t, d, settings)
			switch tc.dataVolume {
			case "emptyDir":
				if data.EmptyDir == nil {
					t.Errorf("DATA_DIR volume %q is not an emptyDir", data.Name)
				}
			case "persistentVolumeClaim":
				if data.PersistentVolumeClaim == nil {
					t.Fatalf("DATA_DIR volume %q is not a PersistentVolumeClaim", data.Name)
				}
				if !slices.ContainsFunc(objs.claims, func(c *corev1.PersistentVolumeClaim) bool {
					return c.Name == data.PersistentVolumeClaim.ClaimName
				}) {
					t.Errorf("claim %q is not among the rendered objects", data.PersistentVolumeClaim.ClaimName)
				}
				if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
					t.Errorf("a ReadWriteOnce data volume needs the Recreate strategy, got %q", d.Spec.Strategy.Type)
				}
			}

			podLabels := labels.Set(d.Spec.Template.Labels)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(podLabels) {
				t.Errorf("Deployment selector %v does not match its pods' labels %v (%v)", d.Spec.Selector, podLabels, err)
			}
			svc := objs.services[0]
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
				t.Errorf("Service selector %v does not match the pods' labels %v", svc.Spec.Selector, podLabels)
			}
			if len(svc.Spec.Ports) == 0 || !hasPort(d.Spec.Template.Spec.Containers[0], svc.Spec.Ports[0].TargetPort.String()) {
				t.Errorf("Service targets %v, not a container port", svc.Spec.Ports)
			}
			pdb := objs.pdbs[0]
			psel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || psel.Empty() || !psel.Matches(podLabels) {
				t.Errorf("PodDisruptionBudget selector %v does not match the pods (%v)", pdb.Spec.Selector, err)
			}
			if d.Spec.Template.Spec.ServiceAccountName != objs.accounts[0].Name {
				t.Errorf("pods run as service account %q, the rendered one is %q", d.Spec.Template.Spec.ServiceAccountName, objs.accounts[0].Name)
			}
		})
	}
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func hasPort(c corev1.Container, port string) bool {
	return slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == port || fmt.Sprint(p.ContainerPort) == port
	})
}

// checkDeployment checks the fields the restricted Pod Security profile
// requires, the probes, the grace period against SHUTDOWN_TIMEOUT and the
// environment against the service's settings.
// In cluster mode the startup probe is /readyz (see clusterProblems).
func checkDeployment(t *testing.T, d *appsv1.Deployment, settings map[string]setting, cluster bool) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if c.Image == "" {
		t.Errorf("container has no image")
	}

	// Restricted profile (Kubernetes Pod Security Standards).
	psc := pod.SecurityContext
	if psc == nil {
		t.Fatal("no pod securityContext")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("host namespaces in use")
	}
	csc := c.SecurityContext
	if csc == nil {
		t.Fatal("no container securityContext")
	}
	nonRoot := (csc.RunAsNonRoot != nil && *csc.RunAsNonRoot) || (csc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("runAsNonRoot is not true")
	}
	for _, uid := range []*int64{psc.RunAsUser, csc.RunAsUser} {
		if uid != nil && *uid == 0 {
			t.Errorf("runAsUser 0")
		}
	}
	seccomp := csc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
		t.Errorf("seccompProfile is %v, want RuntimeDefault", seccomp)
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Errorf("privileged container")
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities do not drop ALL: %v", csc.Capabilities)
	} else if len(csc.Capabilities.Add) > 0 && !slices.Equal(csc.Capabilities.Add, []corev1.Capability{"NET_BIND_SERVICE"}) {
		t.Errorf("capabilities added: %v", csc.Capabilities.Add)
	}
	for _, v := range pod.Volumes {
		vs := v.VolumeSource
		if vs.EmptyDir == nil && vs.PersistentVolumeClaim == nil && vs.Secret == nil && vs.ConfigMap == nil &&
			vs.Projected == nil && vs.DownwardAPI == nil && vs.CSI == nil && vs.Ephemeral == nil {
			t.Errorf("volume %q is of a type the restricted profile forbids", v.Name)
		}
	}

	// Probes: liveness on /livez (never the network), readiness on /readyz,
	// a startup probe (on /livez; in cluster mode on /readyz).
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, map[bool]string{false: "/livez", true: "/readyz"}[cluster]}, {"liveness", c.LivenessProbe, "/livez"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || !hasPort(c, p.probe.HTTPGet.Port.String()) {
			t.Errorf("%s probe GET %s on port %s, want %s on a container port", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}

	// Environment: only the service's settings, secrets only by reference.
	env := envOf(c)
	checkEnv(t, c.Env, settings)
	if len(c.EnvFrom) > 0 {
		t.Errorf("envFrom hides which settings are set: %v", c.EnvFrom)
	}
	shutdown := settingDuration(t, env, settings, "SHUTDOWN_TIMEOUT")
	grace := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < shutdown+2*time.Second {
		t.Errorf("terminationGracePeriodSeconds = %v, want at least SHUTDOWN_TIMEOUT (%v) + 2 s", grace, shutdown)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("no memory limit")
	}
	if e, ok := env["GOMEMLIMIT"]; !ok || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT does not follow the memory limit: %+v", e)
	}
}

// singleProblems lists what keeps a Deployment without cluster mode from
// being one reader: one replica, CLUSTER unset or off.
func singleProblems(d *appsv1.Deployment) []string {
	var out []string
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		out = append(out, fmt.Sprintf("replicas = %v, want 1 (one IRC identity; several instances need CLUSTER=nats, overlays/cluster)", d.Spec.Replicas))
	}
	if v := envOf(d.Spec.Template.Spec.Containers[0])["CLUSTER"].Value; v != "" && v != "off" {
		out = append(out, fmt.Sprintf("CLUSTER = %q outside the cluster overlay", v))
	}
	return out
}

// minClusterStartup is the least time a cluster pod's startup probe gives
// it to join the channels it owns: an account's channels join through the
// JOIN budget the pods share, 20 per 10 s.
const minClusterStartup = 5 * time.Minute

// clusterProblems lists what keeps a Deployment in cluster mode from
// riding out a crash, a drain and a rolling update without a gap: CLUSTER
// nats on the nats bus (the buckets and the stream on one NATS), at least
// two readers per channel and more pods than that, a rolling update that
// starts a new pod before it stops an old one, a startup probe on /readyz
// (a new pod counts as started once its channels are joined) with time to
// join them, a PodDisruptionBudget that evicts one pod at a time, and a
// grace period that covers SHUTDOWN_TIMEOUT (the handover and the drain).
func clusterProblems(d *appsv1.Deployment, pdb *policyv1.PodDisruptionBudget, settings map[string]setting) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	c := d.Spec.Template.Spec.Containers[0]
	env := envOf(c)
	value := func(name string) string {
		if e, ok := env[name]; ok {
			return e.Value
		}
		return settings[name].def
	}
	if v := value("CLUSTER"); v != "nats" {
		bad("CLUSTER = %q, want nats", v)
	}
	if v := value("MESSAGE_BUS_DRIVER"); v != "nats" {
		bad("MESSAGE_BUS_DRIVER = %q, want nats: the replicas' duplicates are removed by the NATS stream", v)
	}
	if value("NATS_URL") == "" {
		bad("no NATS_URL")
	}
	per, err := strconv.Atoi(value("CLUSTER_REPLICAS"))
	if err != nil || per < 2 {
		bad("CLUSTER_REPLICAS = %q, want at least 2 (a crash leaves every channel a reader)", value("CLUSTER_REPLICAS"))
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if int(replicas) <= per {
		bad("replicas = %d, want more than CLUSTER_REPLICAS (%d): with one pod down every channel keeps its readers", replicas, per)
	}
	ru := d.Spec.Strategy.RollingUpdate
	switch {
	case d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil:
		bad("strategy %q, want RollingUpdate with maxSurge and maxUnavailable 0", d.Spec.Strategy.Type)
	case ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0":
		bad("maxUnavailable = %v, want 0: an old pod stops only after a new one has joined its channels", ru.MaxUnavailable)
	case ru.MaxSurge == nil || ru.MaxSurge.String() == "0" || ru.MaxSurge.String() == "0%":
		bad("maxSurge = %v, want at least 1", ru.MaxSurge)
	}
	if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		bad("the startup probe is not GET /readyz: a new pod would count as started before its channels are joined")
	} else if window := time.Duration(max(p.PeriodSeconds, 10)*max(p.FailureThreshold, 3)) * time.Second; window < minClusterStartup {
		bad("the startup probe gives %v to join the pod's channels, want at least %v", window, minClusterStartup)
	}
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		if pdb.Spec.MaxUnavailable.String() != "1" {
			bad("PodDisruptionBudget maxUnavailable = %v, want 1: a drain takes one pod at a time", pdb.Spec.MaxUnavailable)
		}
	case pdb.Spec.MinAvailable != nil:
		if pdb.Spec.MinAvailable.String() != strconv.Itoa(int(replicas)-1) {
			bad("PodDisruptionBudget minAvailable = %v, want %d (replicas - 1)", pdb.Spec.MinAvailable, replicas-1)
		}
	default:
		bad("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	shutdown, err := time.ParseDuration(value("SHUTDOWN_TIMEOUT"))
	if err != nil {
		bad("SHUTDOWN_TIMEOUT = %q: %v", value("SHUTDOWN_TIMEOUT"), err)
	}
	grace := 30 * time.Second
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace < shutdown+2*time.Second {
		bad("terminationGracePeriodSeconds = %v, want at least SHUTDOWN_TIMEOUT (%v) + 2 s: the handover and the drain", grace, shutdown)
	}
	return out
}

// checkEnv fails on a variable that is not a setting of the service (a
// typo the service would ignore) and on a secret given as a literal.
func checkEnv(t *testing.T, vars []corev1.EnvVar, settings map[string]setting) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range vars {
		if seen[e.Name] {
			t.Errorf("%s set twice", e.Name)
		}
		seen[e.Name] = true
		s, known := settings[e.Name]
		if !known && !slices.Contains(runtimeEnv, e.Name) {
			t.Errorf("%s is not a setting of the service (--help)", e.Name)
		}
		if s.secret && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("secret %s is not taken from a Secret by reference", e.Name)
		}
	}
}

// settingDuration is the value of a duration setting: the manifest's, else
// the service's default.
func settingDuration(t *testing.T, env map[string]corev1.EnvVar, settings map[string]setting, name string) time.Duration {
	t.Helper()
	v := settings[name].def
	if e, ok := env[name]; ok {
		v = e.Value
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s = %q: %v", name, v, err)
	}
	return d
}

// dataVolume is the volume mounted at DATA_DIR.
func dataVolume(t *testing.T, d *appsv1.Deployment, settings map[string]setting) corev1.Volume {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	dir := settings["DATA_DIR"].def
	if e, ok := envOf(c)["DATA_DIR"]; ok {
		dir = e.Value
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir && !m.ReadOnly {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return v
				}
			}
		}
	}
	t.Fatalf("no writable volume is mounted at DATA_DIR %q (the root filesystem is read-only)", dir)
	return corev1.Volume{}
}

// knService mirrors Knative Serving v1's Service, the format of
// `gcloud run services replace`: a RevisionSpec is a core PodSpec plus
// containerConcurrency and the timeouts, so that strict decoding checks the
// pod part against the Kubernetes types.
type knService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Template struct {
			metav1.ObjectMeta `json:"metadata"`
			Spec              struct {
				corev1.PodSpec              `json:",inline"`
				ContainerConcurrency        *int64 `json:"containerConcurrency,omitempty"`
				TimeoutSeconds              *int64 `json:"timeoutSeconds,omitempty"`
				IdleTimeoutSeconds          *int64 `json:"idleTimeoutSeconds,omitempty"`
				ResponseStartTimeoutSeconds *int64 `json:"responseStartTimeoutSeconds,omitempty"`
			} `json:"spec"`
		} `json:"template"`
		Traffic []struct {
			Tag               string `json:"tag,omitempty"`
			RevisionName      string `json:"revisionName,omitempty"`
			ConfigurationName string `json:"configurationName,omitempty"`
			LatestRevision    *bool  `json:"latestRevision,omitempty"`
			Percent           *int64 `json:"percent,omitempty"`
			URL               string `json:"url,omitempty"`
		} `json:"traffic,omitempty"`
	} `json:"spec"`
}

func TestCloudRunService(t *testing.T) {
	settings := serviceSettings(t)
	data, err := os.ReadFile(filepath.Join(repo, "deploy", "cloudrun", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var s knService
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		t.Fatalf("deploy/cloudrun/service.yaml does not decode strictly: %v", err)
	}
	if s.APIVersion != "serving.knative.dev/v1" || s.Kind != "Service" || s.Name == "" {
		t.Errorf("got %s %s %q, want a named serving.knative.dev/v1 Service", s.APIVersion, s.Kind, s.Name)
	}
	ann := s.Spec.Template.Annotations
	for k, want := range map[string]string{
		"autoscaling.knative.dev/minScale":  "1",
		"autoscaling.knative.dev/maxScale":  "1",
		"run.googleapis.com/cpu-throttling": "false",
	} {
		if ann[k] != want {
			t.Errorf("template annotation %s = %q, want %q", k, ann[k], want)
		}
	}
	pod := s.Spec.Template.Spec.PodSpec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("container ports %v, want 8080", c.Ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
	}{{"startup", c.StartupProbe}, {"liveness", c.LivenessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != "/livez" || p.probe.HTTPGet.Port.IntValue() != 8080 {
			t.Errorf("%s probe is not GET /livez on 8080: %+v", p.name, p.probe)
		}
	}
	checkEnv(t, c.Env, settings)
	env := envOf(c)
	if _, ok := env["PORT"]; ok {
		t.Errorf("PORT is set by Cloud Run and may not be set")
	}
	// /tmp is memory on Cloud Run: the embedded stream would not survive
	// the instance, so the bus is an external one.
	if d := env["MESSAGE_BUS_DRIVER"].Value; d != "pubsub" && d != "nats" && d != "nats-core" {
		t.Errorf("MESSAGE_BUS_DRIVER = %q on Cloud Run, want pubsub or nats (the embedded stream would live in memory)", d)
	}
	if shutdown := settingDuration(t, env, settings, "SHUTDOWN_TIMEOUT"); shutdown > 8*time.Second {
		t.Errorf("SHUTDOWN_TIMEOUT %v does not fit in Cloud Run's 10 s between SIGTERM and SIGKILL", shutdown)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("no memory limit")
	}
	if len(s.Spec.Traffic) != 1 || s.Spec.Traffic[0].Percent == nil || *s.Spec.Traffic[0].Percent != 100 {
		t.Errorf("traffic %+v, want 100%% to one target", s.Spec.Traffic)
	}
}

// TestStrictDecodingFails shows that the decoding above rejects what a
// cluster would reject or silently drop: a misspelt field, a field at the
// wrong level, a wrong type, an unknown kind.
func TestStrictDecodingFails(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 1}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: c, image: i, readOnlyRootFilesystem: true}]}}}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: http}]}\n",
		"apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: x}\n",
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, name: y}\n",
	} {
		var objs objects
		if err := decodeStrict([]byte(doc), &objs); err == nil {
			t.Errorf("decodeStrict(%q) = nil, want an error", doc)
		}
	}
}

// TestClusterRulesFail shows that the cluster overlay's rules reject each
// way of losing make-before-break: one rendered overlay, changed one field
// at a time, and the single-reader rule rejects more than one replica.
func TestClusterRulesFail(t *testing.T) {
	settings := serviceSettings(t)
	objs := decodeAll(t, render(t, "overlays/cluster"))
	if len(objs.deployments) != 1 || len(objs.pdbs) != 1 {
		t.Fatalf("got %d Deployments and %d PodDisruptionBudgets", len(objs.deployments), len(objs.pdbs))
	}
	if p := clusterProblems(objs.deployments[0], objs.pdbs[0], settings); len(p) != 0 {
		t.Fatalf("the cluster overlay: %v", p)
	}
	setEnv := func(name, value string) func(*appsv1.Deployment, *policyv1.PodDisruptionBudget) {
		return func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			c := &d.Spec.Template.Spec.Containers[0]
			for i := range c.Env {
				if c.Env[i].Name == name {
					c.Env[i].Value = value
				}
			}
		}
	}
	for name, change := range map[string]func(*appsv1.Deployment, *policyv1.PodDisruptionBudget){
		"CLUSTER off":        setEnv("CLUSTER", "off"),
		"one replica a chan": setEnv("CLUSTER_REPLICAS", "1"),
		"embedded bus":       setEnv("MESSAGE_BUS_DRIVER", "embedded"),
		"shutdown too long":  setEnv("SHUTDOWN_TIMEOUT", "90s"),
		"replicas 2": func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			n := int32(2)
			d.Spec.Replicas = &n
		},
		"maxUnavailable 1": func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			v := intstr.FromInt32(1)
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &v
		},
		"maxSurge 0": func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			v := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate.MaxSurge = &v
		},
		"Recreate": func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		},
		"startup on /livez": func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			d.Spec.Template.Spec.Containers[0].StartupProbe.HTTPGet.Path = "/livez"
		},
		"startup too short": func(d *appsv1.Deployment, _ *policyv1.PodDisruptionBudget) {
			d.Spec.Template.Spec.Containers[0].StartupProbe.FailureThreshold = 6
		},
		"PDB of 2": func(_ *appsv1.Deployment, pdb *policyv1.PodDisruptionBudget) {
			v := intstr.FromInt32(2)
			pdb.Spec.MaxUnavailable = &v
		},
	} {
		d, pdb := objs.deployments[0].DeepCopy(), objs.pdbs[0].DeepCopy()
		change(d, pdb)
		if p := clusterProblems(d, pdb, settings); len(p) == 0 {
			t.Errorf("%s: no problem found", name)
		}
	}
	if p := singleProblems(objs.deployments[0]); len(p) != 2 {
		t.Errorf("the cluster overlay as a single reader: %v, want two problems (replicas, CLUSTER)", p)
	}
}
