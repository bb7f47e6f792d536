package deploytest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const k8sDir = "deployments/k8s"

// externalSecret is the Secret people create themselves (docs/deployment.md):
// its values never appear in the repository.
const externalSecret = "staybook-secrets"

// manifests are the objects a kustomization builds, each decoded strictly
// into its Kubernetes type (an unknown or misspelt field is an error, as
// `kubectl apply --validate=strict` would make it).
type manifests struct {
	Dir          string
	Deployments  map[string]*appsv1.Deployment
	Services     map[string]*corev1.Service
	ConfigMaps   map[string]*corev1.ConfigMap
	Secrets      map[string]*corev1.Secret
	Namespaces   map[string]*corev1.Namespace
	HPAs         map[string]*autoscalingv2.HorizontalPodAutoscaler
	PDBs         map[string]*policyv1.PodDisruptionBudget
	RabbitMQ     map[string]map[string]any // RabbitmqCluster (rabbitmq.com)
	Postgres     map[string]map[string]any // Cluster (postgresql.cnpg.io)
	Databases    map[string]map[string]any // Database (postgresql.cnpg.io)
	DecodeErrors []string
}

var (
	builtMu sync.Mutex
	built   = map[string]*manifests{}
)

// kustomizations are the directories to build: the base and every overlay.
func kustomizations(t testing.TB) (base string, overlays []string) {
	t.Helper()
	root := filepath.Join(repoRoot(t), k8sDir)
	entries, err := os.ReadDir(filepath.Join(root, "overlays"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			overlays = append(overlays, filepath.Join(root, "overlays", e.Name()))
		}
	}
	if len(overlays) == 0 {
		t.Fatal("no overlay under " + k8sDir + "/overlays")
	}
	return filepath.Join(root, "base"), overlays
}

// build runs kustomize on dir (once per test binary) and decodes the result.
func build(t testing.TB, dir string) *manifests {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if m, ok := built[dir]; ok {
		return m
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	m := &manifests{
		Dir: dir, Deployments: map[string]*appsv1.Deployment{}, Services: map[string]*corev1.Service{},
		ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{},
		Namespaces: map[string]*corev1.Namespace{}, HPAs: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		PDBs: map[string]*policyv1.PodDisruptionBudget{}, RabbitMQ: map[string]map[string]any{},
		Postgres: map[string]map[string]any{}, Databases: map[string]map[string]any{},
	}
	for _, r := range res.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		m.decode(r.GetApiVersion(), r.GetKind(), r.GetName(), data)
	}
	built[dir] = m
	return m
}

func (m *manifests) decode(apiVersion, kind, name string, data []byte) {
	strict := func(into any) {
		if err := yaml.UnmarshalStrict(data, into); err != nil {
			m.DecodeErrors = append(m.DecodeErrors, fmt.Sprintf("%s %s: %v", kind, name, err))
		}
	}
	generic := func(into map[string]map[string]any) {
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			m.DecodeErrors = append(m.DecodeErrors, fmt.Sprintf("%s %s: %v", kind, name, err))
		}
		into[name] = obj
	}
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		m.Deployments[name] = &appsv1.Deployment{}
		strict(m.Deployments[name])
	case "v1 Service":
		m.Services[name] = &corev1.Service{}
		strict(m.Services[name])
	case "v1 ConfigMap":
		m.ConfigMaps[name] = &corev1.ConfigMap{}
		strict(m.ConfigMaps[name])
	case "v1 Secret":
		m.Secrets[name] = &corev1.Secret{}
		strict(m.Secrets[name])
	case "v1 Namespace":
		m.Namespaces[name] = &corev1.Namespace{}
		strict(m.Namespaces[name])
	case "autoscaling/v2 HorizontalPodAutoscaler":
		m.HPAs[name] = &autoscalingv2.HorizontalPodAutoscaler{}
		strict(m.HPAs[name])
	case "policy/v1 PodDisruptionBudget":
		m.PDBs[name] = &policyv1.PodDisruptionBudget{}
		strict(m.PDBs[name])
	case "rabbitmq.com/v1beta1 RabbitmqCluster":
		generic(m.RabbitMQ)
	case "postgresql.cnpg.io/v1 Cluster":
		generic(m.Postgres)
	case "postgresql.cnpg.io/v1 Database":
		generic(m.Databases)
	default:
		m.DecodeErrors = append(m.DecodeErrors, fmt.Sprintf("%s %s (%s): no decoder in deploytest; add its Go type (or the fields its operator requires) to manifests.decode", kind, name, apiVersion))
	}
}

// field walks a generic object: field(obj, "spec", "storage", "size").
func field(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func fieldString(obj map[string]any, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

func fieldInt(obj map[string]any, path ...string) (int, bool) {
	switch v := field(obj, path...).(type) {
	case float64:
		return int(v), v == float64(int(v))
	case int64:
		return int(v), true
	case int:
		return v, true
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// --- checks ---

func checkCustomResources(m *manifests) []string {
	var out []string
	if len(m.RabbitMQ) != 1 {
		out = append(out, fmt.Sprintf("want one RabbitmqCluster, found %d", len(m.RabbitMQ)))
	}
	for name, rc := range m.RabbitMQ {
		if fieldString(rc, "metadata", "name") == "" {
			out = append(out, "RabbitmqCluster without metadata.name")
		}
		// Quorum queues need a majority: three nodes survive the loss of one.
		if n, ok := fieldInt(rc, "spec", "replicas"); !ok || n < 3 || n%2 == 0 {
			out = append(out, fmt.Sprintf("RabbitmqCluster %s: spec.replicas %v, want an odd number, at least 3 (quorum queues)", name, field(rc, "spec", "replicas")))
		}
		if s := fieldString(rc, "spec", "persistence", "storage"); s == "" {
			out = append(out, fmt.Sprintf("RabbitmqCluster %s: no spec.persistence.storage", name))
		} else if _, err := resource.ParseQuantity(s); err != nil {
			out = append(out, fmt.Sprintf("RabbitmqCluster %s: spec.persistence.storage %q: %v", name, s, err))
		}
		if img := fieldString(rc, "spec", "image"); img != "" {
			if p := imagePinProblem(img); p != "" {
				out = append(out, fmt.Sprintf("RabbitmqCluster %s: image %s: %s", name, img, p))
			}
		}
	}
	if len(m.Postgres) != 1 {
		out = append(out, fmt.Sprintf("want one CloudNativePG Cluster, found %d", len(m.Postgres)))
	}
	for name, pg := range m.Postgres {
		if fieldString(pg, "metadata", "name") == "" {
			out = append(out, "Cluster without metadata.name")
		}
		if n, ok := fieldInt(pg, "spec", "instances"); !ok || n < 3 {
			out = append(out, fmt.Sprintf("Cluster %s: spec.instances %v, want at least 3 (a primary and two replicas)", name, field(pg, "spec", "instances")))
		}
		if s := fieldString(pg, "spec", "storage", "size"); s == "" {
			out = append(out, fmt.Sprintf("Cluster %s: no spec.storage.size", name))
		} else if _, err := resource.ParseQuantity(s); err != nil {
			out = append(out, fmt.Sprintf("Cluster %s: spec.storage.size %q: %v", name, s, err))
		}
		if fieldString(pg, "spec", "bootstrap", "initdb", "database") == "" || fieldString(pg, "spec", "bootstrap", "initdb", "owner") == "" {
			out = append(out, fmt.Sprintf("Cluster %s: spec.bootstrap.initdb needs database and owner", name))
		}
		if _, ok := fieldInt(pg, "spec", "postgresql", "parameters", "max_connections"); !ok {
			out = append(out, fmt.Sprintf("Cluster %s: spec.postgresql.parameters.max_connections is the services' budget: set it", name))
		}
		if img := fieldString(pg, "spec", "imageName"); img != "" {
			if p := imagePinProblem(img); p != "" {
				out = append(out, fmt.Sprintf("Cluster %s: imageName %s: %s", name, img, p))
			}
		}
	}
	for name, db := range m.Databases {
		cluster := fieldString(db, "spec", "cluster", "name")
		if _, ok := m.Postgres[cluster]; !ok {
			out = append(out, fmt.Sprintf("Database %s: spec.cluster.name %q is no Cluster", name, cluster))
		}
		if fieldString(db, "spec", "name") == "" || fieldString(db, "spec", "owner") == "" {
			out = append(out, fmt.Sprintf("Database %s: needs spec.name and spec.owner", name))
		}
	}
	return out
}

// databases are the database names the build creates.
func (m *manifests) databases() []string {
	var out []string
	for _, pg := range m.Postgres {
		out = append(out, fieldString(pg, "spec", "bootstrap", "initdb", "database"))
	}
	for _, db := range m.Databases {
		out = append(out, fieldString(db, "spec", "name"))
	}
	return out
}

// services are the names and ports pods can reach: the Services of the
// build and those the operators create.
func (m *manifests) services() map[string][]int {
	out := map[string][]int{}
	for name, s := range m.Services {
		for _, p := range s.Spec.Ports {
			out[name] = append(out[name], int(p.Port))
		}
	}
	for name := range m.RabbitMQ {
		out[name] = []int{5672, 15672}
	}
	for name := range m.Postgres {
		for _, suffix := range []string{"-rw", "-ro", "-r"} {
			out[name+suffix] = []int{5432}
		}
	}
	return out
}

// operatorSecretKeys are the Secrets the operators create, with their keys.
func (m *manifests) operatorSecretKeys() map[string][]string {
	out := map[string][]string{}
	for name := range m.RabbitMQ {
		out[name+"-default-user"] = []string{"username", "password", "host", "port", "provider", "type", "default_user.conf", "connection_string"}
	}
	for name := range m.Postgres {
		out[name+"-app"] = []string{"username", "password", "host", "port", "dbname", "uri", "jdbc-uri", "pgpass", "fqdn-uri", "fqdn-jdbc-uri"}
	}
	return out
}

var fromLiteralRe = regexp.MustCompile(`--from-literal=([A-Z][A-Z0-9_]*)=`)

// documentedSecretKeys are the keys docs/deployment.md tells people to put
// into the external Secret.
// (TestDeploymentDoc_ShowsHowToCreateTheSecret checks the command is there.)
func documentedSecretKeys(t testing.TB) []string {
	t.Helper()
	doc, _ := os.ReadFile(filepath.Join(repoRoot(t), "docs", "deployment.md"))
	var out []string
	for _, m := range fromLiteralRe.FindAllStringSubmatch(string(doc), -1) {
		out = append(out, m[1])
	}
	return out
}

func effectiveBool(pod, container *bool) bool {
	if container != nil {
		return *container
	}
	return pod != nil && *pod
}

// checkLockedDown: every Deployment's containers have probes, requests and
// limits, and run as non-root with a read-only root file system, no
// privilege escalation, no capabilities and the runtime's seccomp profile.
func checkLockedDown(m *manifests) []string {
	var out []string
	for _, name := range sortedKeys(m.Deployments) {
		d := m.Deployments[name]
		pod := d.Spec.Template.Spec
		psc := pod.SecurityContext
		if psc == nil {
			psc = &corev1.PodSecurityContext{}
		}
		if len(pod.Containers) == 0 {
			out = append(out, name+": no container")
		}
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			where := fmt.Sprintf("Deployment %s, container %s", name, c.Name)
			if c.ReadinessProbe == nil || !hasHandler(c.ReadinessProbe.ProbeHandler) {
				out = append(out, where+": no readiness probe")
			}
			if c.LivenessProbe == nil || !hasHandler(c.LivenessProbe.ProbeHandler) {
				out = append(out, where+": no liveness probe")
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, hasReq := c.Resources.Requests[r]
				lim, hasLim := c.Resources.Limits[r]
				if !hasReq {
					out = append(out, fmt.Sprintf("%s: no %s request", where, r))
				}
				if !hasLim {
					out = append(out, fmt.Sprintf("%s: no %s limit", where, r))
				}
				if hasReq && hasLim && req.Cmp(lim) > 0 {
					out = append(out, fmt.Sprintf("%s: %s request %s above its limit %s", where, r, req.String(), lim.String()))
				}
			}
			sc := c.SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
			}
			if !effectiveBool(psc.RunAsNonRoot, sc.RunAsNonRoot) {
				out = append(out, where+": runAsNonRoot is not true")
			}
			uid := psc.RunAsUser
			if sc.RunAsUser != nil {
				uid = sc.RunAsUser
			}
			if uid == nil || *uid == 0 {
				out = append(out, where+": no non-zero runAsUser (runAsNonRoot cannot check an image's named user)")
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				out = append(out, where+": readOnlyRootFilesystem is not true")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				out = append(out, where+": allowPrivilegeEscalation is not false")
			}
			if sc.Privileged != nil && *sc.Privileged {
				out = append(out, where+": privileged")
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				out = append(out, where+": capabilities must drop ALL and add none")
			}
			seccomp := psc.SeccompProfile
			if sc.SeccompProfile != nil {
				seccomp = sc.SeccompProfile
			}
			if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
				out = append(out, where+": seccompProfile is not RuntimeDefault")
			}
			if repo, tag, _ := splitImage(c.Image); strings.HasPrefix(repo, "staybook/") {
				if tag == "" || tag == "latest" {
					out = append(out, fmt.Sprintf("%s: image %s needs a tag other than latest", where, c.Image))
				}
			} else if p := imagePinProblem(c.Image); p != "" {
				out = append(out, fmt.Sprintf("%s: image %s is not pinned: %s", where, c.Image, p))
			}
		}
	}
	return out
}

func hasHandler(h corev1.ProbeHandler) bool {
	return h.HTTPGet != nil || h.TCPSocket != nil || h.Exec != nil || h.GRPC != nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var envRefRe = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// containerEnv resolves a container's environment as the kubelet does
// (envFrom, then env in order, $(VAR) only for variables defined before),
// with secrets as "secret.<name>.<key>".
func (m *manifests) containerEnv(t testing.TB, svc string, c corev1.Container) (map[string]string, []string) {
	var out []string
	env := map[string]string{}
	documented := documentedSecretKeys(t)
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := m.ConfigMaps[from.ConfigMapRef.Name]
			if !ok {
				out = append(out, fmt.Sprintf("%s: envFrom ConfigMap %s is not in the build", svc, from.ConfigMapRef.Name))
				continue
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case from.SecretRef != nil:
			out = append(out, fmt.Sprintf("%s: envFrom Secret %s: name each secret variable with secretKeyRef instead", svc, from.SecretRef.Name))
		}
	}
	referenced := map[string]bool{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			for _, ref := range envRefRe.FindAllStringSubmatch(e.Value, -1) {
				referenced[ref[1]] = true
				if _, ok := env[ref[1]]; !ok {
					out = append(out, fmt.Sprintf("%s: %s uses $(%s), which is not defined before it: the kubelet leaves it as text", svc, e.Name, ref[1]))
				}
			}
			env[e.Name] = envRefRe.ReplaceAllStringFunc(e.Value, func(s string) string {
				if v, ok := env[s[2:len(s)-1]]; ok {
					return v
				}
				return s
			})
			if secretNameRe.MatchString(e.Name) && e.Value != "" {
				out = append(out, fmt.Sprintf("%s: %s has a literal value in the manifest; use secretKeyRef", svc, e.Name))
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			env[e.Name] = fmt.Sprintf("secret.%s.%s", ref.Name, ref.Key)
			if s, ok := m.Secrets[ref.Name]; ok {
				if _, ok := s.Data[ref.Key]; !ok {
					if _, ok := s.StringData[ref.Key]; !ok {
						out = append(out, fmt.Sprintf("%s: %s: Secret %s has no key %s", svc, e.Name, ref.Name, ref.Key))
					}
				}
			} else if keys, ok := m.operatorSecretKeys()[ref.Name]; ok {
				if !slices.Contains(keys, ref.Key) {
					out = append(out, fmt.Sprintf("%s: %s: the operator's Secret %s has no key %s", svc, e.Name, ref.Name, ref.Key))
				}
			} else if ref.Name == externalSecret {
				if !slices.Contains(documented, ref.Key) {
					out = append(out, fmt.Sprintf("%s: %s: key %s of %s is not in docs/deployment.md's kubectl create secret", svc, e.Name, ref.Key, externalSecret))
				}
			} else {
				out = append(out, fmt.Sprintf("%s: %s: Secret %s is neither built, made by an operator, nor %s", svc, e.Name, ref.Name, externalSecret))
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := m.ConfigMaps[ref.Name]
			if !ok {
				out = append(out, fmt.Sprintf("%s: %s: ConfigMap %s is not in the build", svc, e.Name, ref.Name))
				continue
			}
			env[e.Name] = cm.Data[ref.Key]
		default:
			env[e.Name] = "<field>"
		}
	}
	for name := range env {
		if !referenced[name] && !knownVariable(t, name) && !isUsedOnlyAsReference(c, name) {
			out = append(out, fmt.Sprintf("%s: %s is read by no Staybook code (a typo?)", svc, name))
		}
	}
	return env, out
}

// isUsedOnlyAsReference: a helper variable (the broker's password) that
// another variable's $(...) uses.
func isUsedOnlyAsReference(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		if strings.Contains(e.Value, "$("+name+")") {
			return true
		}
	}
	return false
}

// staybookContainer returns the Deployment's container that runs the service.
func staybookContainer(d *appsv1.Deployment) *corev1.Container {
	for i, c := range d.Spec.Template.Spec.Containers {
		if repo, _, _ := splitImage(c.Image); repo == "staybook/"+d.Name {
			return &d.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

// checkStaybookDeployments: each service runs from its image on its contract
// port, with /readyz and /healthz probes, a Service, a PDB, and the
// environment its code needs, pointing at Services that exist.
func checkStaybookDeployments(t testing.TB, m *manifests) []string {
	var out []string
	svcPorts := m.services()
	for _, svc := range serviceDirs(t) {
		d, ok := m.Deployments[svc]
		if !ok {
			out = append(out, "no Deployment "+svc)
			continue
		}
		c := staybookContainer(d)
		if c == nil {
			out = append(out, fmt.Sprintf("Deployment %s: no container runs the image staybook/%s", svc, svc))
			continue
		}
		// The default SHUTDOWN_TIMEOUT (20 s) and the margin after it.
		if need := int64((20*time.Second + shutdownMargin) / time.Second); d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || *d.Spec.Template.Spec.TerminationGracePeriodSeconds < need {
			out = append(out, fmt.Sprintf("Deployment %s: terminationGracePeriodSeconds must be at least %d (SHUTDOWN_TIMEOUT + %s), or the kubelet kills in-flight work", svc, need, shutdownMargin))
		}
		port := contractPorts[svc]
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port }) {
			out = append(out, fmt.Sprintf("Deployment %s: no container port %d", svc, port))
		}
		for _, probe := range []struct {
			kind string
			p    *corev1.Probe
			path string
		}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
			if probe.p == nil || probe.p.HTTPGet == nil {
				out = append(out, fmt.Sprintf("Deployment %s: %s probe is not an HTTP GET of %s", svc, probe.kind, probe.path))
				continue
			}
			if probe.p.HTTPGet.Path != probe.path || resolvePort(c, probe.p.HTTPGet.Port) != port {
				out = append(out, fmt.Sprintf("Deployment %s: %s probe GETs %s on %s, want %s on %d", svc, probe.kind, probe.p.HTTPGet.Path, probe.p.HTTPGet.Port.String(), probe.path, port))
			}
		}
		s, ok := m.Services[svc]
		if !ok {
			out = append(out, "no Service "+svc+" (the other services reach it by that name)")
		} else if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port }) {
			out = append(out, fmt.Sprintf("Service %s: no port %d", svc, port))
		}
		if !slices.ContainsFunc(sortedKeys(m.PDBs), func(n string) bool { return selects(m.PDBs[n].Spec.Selector, d) }) {
			out = append(out, "no PodDisruptionBudget selects Deployment "+svc)
		}
		env, problems := m.containerEnv(t, svc, *c)
		out = append(out, problems...)
		for name, why := range requiredVariables(t, svc) {
			if strings.TrimSpace(env[name]) == "" {
				out = append(out, fmt.Sprintf("Deployment %s: %s is not set (%s)", svc, name, why))
			}
		}
		if env["AMQP_QUEUE_TYPE"] != "quorum" {
			out = append(out, fmt.Sprintf("Deployment %s: AMQP_QUEUE_TYPE %q, want quorum", svc, env["AMQP_QUEUE_TYPE"]))
		}
		if listenPort(env["HTTP_ADDR"]) != port {
			out = append(out, fmt.Sprintf("Deployment %s: HTTP_ADDR %q, want port %d", svc, env["HTTP_ADDR"], port))
		}
		for name, value := range env {
			if !isServerAddressVariable(name) || value == "" {
				continue
			}
			for _, addr := range strings.Split(value, ",") {
				host, p, ok := splitAddress(strings.TrimSpace(addr))
				switch {
				case !ok:
					out = append(out, fmt.Sprintf("Deployment %s: %s=%q has no host and port", svc, name, value))
				case svcPorts[host] == nil:
					out = append(out, fmt.Sprintf("Deployment %s: %s=%q: no Service %s", svc, name, value, host))
				case !slices.Contains(svcPorts[host], p):
					out = append(out, fmt.Sprintf("Deployment %s: %s=%q: Service %s has ports %v, not %d", svc, name, value, host, svcPorts[host], p))
				}
			}
			if name == "DATABASE_URL" {
				if db := databaseName(value); db != "staybook_"+svc || !slices.Contains(m.databases(), db) {
					out = append(out, fmt.Sprintf("Deployment %s: DATABASE_URL names %q; want staybook_%s, created by the Cluster or a Database (created: %v)", svc, db, svc, m.databases()))
				}
			}
		}
	}
	return out
}

func resolvePort(c *corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

// selects reports whether a label selector picks the Deployment's pods.
func selects(sel *metav1.LabelSelector, d *appsv1.Deployment) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(d.Spec.Template.Labels))
}

func metaSelector(d *appsv1.Deployment) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(d.Spec.Selector)
}

// checkWiring: Services select pods and target their ports; autoscalers
// and disruption budgets name real Deployments.
func checkWiring(m *manifests) []string {
	var out []string
	for _, name := range sortedKeys(m.Services) {
		s := m.Services[name]
		var target *appsv1.Deployment
		for _, d := range m.Deployments {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				target = d
			}
		}
		if target == nil {
			out = append(out, fmt.Sprintf("Service %s selects no Deployment's pods (%v)", name, s.Spec.Selector))
			continue
		}
		for _, p := range s.Spec.Ports {
			found := false
			for _, c := range target.Spec.Template.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || (p.TargetPort.Type == intstr.String && cp.Name == p.TargetPort.StrVal) ||
						(p.TargetPort.Type == intstr.Int && int(cp.ContainerPort) == p.TargetPort.IntValue()) ||
						(p.TargetPort.IntValue() == 0 && p.TargetPort.StrVal == "" && cp.ContainerPort == p.Port)
				}
			}
			if !found {
				out = append(out, fmt.Sprintf("Service %s: port %d targets %s, which Deployment %s does not expose", name, p.Port, p.TargetPort.String(), target.Name))
			}
		}
	}
	for _, name := range sortedKeys(m.Deployments) {
		d := m.Deployments[name]
		sel, err := metaSelector(d)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, fmt.Sprintf("Deployment %s: its selector does not match its pod labels", name))
		}
		// Mounted ConfigMaps must be in the build (generated names carry a
		// hash that kustomize writes into the references it knows).
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				if _, ok := m.ConfigMaps[v.ConfigMap.Name]; !ok {
					out = append(out, fmt.Sprintf("Deployment %s: volume %s mounts ConfigMap %s, which is not in the build", name, v.Name, v.ConfigMap.Name))
				}
			}
		}
	}
	for _, name := range sortedKeys(m.HPAs) {
		h := m.HPAs[name]
		ref := h.Spec.ScaleTargetRef
		d, ok := m.Deployments[ref.Name]
		switch {
		case ref.Kind != "Deployment" || !ok:
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler %s scales %s %s, which is not in the build", name, ref.Kind, ref.Name))
		case d.Spec.Replicas != nil:
			out = append(out, fmt.Sprintf("Deployment %s sets replicas while HorizontalPodAutoscaler %s manages them: every apply would reset the count", ref.Name, name))
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler %s: minReplicas below 2 leaves one pod to fail", name))
		}
		for _, metric := range h.Spec.Metrics {
			if metric.Type == autoscalingv2.ResourceMetricSourceType && metric.Resource != nil && ok {
				for _, c := range d.Spec.Template.Spec.Containers {
					if _, has := c.Resources.Requests[metric.Resource.Name]; !has {
						out = append(out, fmt.Sprintf("HorizontalPodAutoscaler %s scales on %s, which container %s does not request", name, metric.Resource.Name, c.Name))
					}
				}
			}
		}
	}
	for _, name := range sortedKeys(m.PDBs) {
		pdb := m.PDBs[name]
		var matched []*appsv1.Deployment
		for _, d := range m.Deployments {
			if selects(pdb.Spec.Selector, d) {
				matched = append(matched, d)
			}
		}
		if len(matched) == 0 {
			out = append(out, fmt.Sprintf("PodDisruptionBudget %s selects no Deployment", name))
			continue
		}
		if pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int {
			for _, d := range matched {
				if min := m.minReplicas(d); pdb.Spec.MinAvailable.IntValue() >= min {
					out = append(out, fmt.Sprintf("PodDisruptionBudget %s: minAvailable %d with %d replica(s) of %s blocks every node drain", name, pdb.Spec.MinAvailable.IntValue(), min, d.Name))
				}
			}
		}
	}
	return out
}

// minReplicas and maxReplicas of a Deployment, its autoscaler's if it has one.
func (m *manifests) minReplicas(d *appsv1.Deployment) int {
	if h := m.hpaOf(d); h != nil && h.Spec.MinReplicas != nil {
		return int(*h.Spec.MinReplicas)
	}
	if d.Spec.Replicas == nil {
		return 1
	}
	return int(*d.Spec.Replicas)
}

func (m *manifests) maxReplicas(d *appsv1.Deployment) int {
	if h := m.hpaOf(d); h != nil {
		return int(h.Spec.MaxReplicas)
	}
	return m.minReplicas(d)
}

func (m *manifests) hpaOf(d *appsv1.Deployment) *autoscalingv2.HorizontalPodAutoscaler {
	for _, h := range m.HPAs {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
			return h
		}
	}
	return nil
}

// surge is how many extra pods a rolling update may start.
func surge(d *appsv1.Deployment, replicas int) int {
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return 0
	}
	s := intstr.FromString("25%") // Kubernetes' default
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
		s = *ru.MaxSurge
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&s, replicas, true)
	if err != nil {
		return replicas
	}
	return n
}

// checkK8sDatabaseBudget: at the most replicas (autoscaler maximum, rolling
// update surge included), the pools fit PostgreSQL's max_connections; more
// booking consumers than the database can serve would only move the queue
// into the database.
func checkK8sDatabaseBudget(t testing.TB, m *manifests) []string {
	var out []string
	maxConns := 0
	for _, pg := range m.Postgres {
		maxConns, _ = fieldInt(pg, "spec", "postgresql", "parameters", "max_connections")
	}
	total, parts := 0, []string{}
	for _, svc := range serviceDirs(t) {
		d, ok := m.Deployments[svc]
		if !ok || !loadServiceConfigs(t)[svc].UsesDatabase {
			continue
		}
		size, ok := poolSizes[svc]
		if !ok {
			out = append(out, svc+": has a database but no entry in poolSizes (deploytest)")
			continue
		}
		c := staybookContainer(d)
		if c == nil {
			continue
		}
		env, _ := m.containerEnv(t, svc, *c)
		pods := m.maxReplicas(d) + surge(d, m.maxReplicas(d))
		n := pods * size(variableInt(t, svc, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
		total += n
		parts = append(parts, fmt.Sprintf("%s %d pods: %d", svc, pods, n))
		if svc == "booking" {
			if h := m.hpaOf(d); h != nil && h.Spec.MaxReplicas > 4 {
				out = append(out, fmt.Sprintf("booking: autoscaler up to %d replicas; booking is bounded by the database, not by load (docs/scaling.md)", h.Spec.MaxReplicas))
			}
			workers := variableInt(t, svc, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if workers("BOOKING_WORKERS") >= workers("BOOKING_DB_MAX_CONNS") {
				out = append(out, "booking: BOOKING_WORKERS must stay below BOOKING_DB_MAX_CONNS")
			}
		}
	}
	if total > maxConns-reservedConnections {
		out = append(out, fmt.Sprintf("the pools need %d connections (%s), max_connections is %d minus %d reserved", total, strings.Join(parts, ", "), maxConns, reservedConnections))
	}
	return out
}

// checkNoSecretsInManifests: no Secret values and no secret-named ConfigMap
// keys are committed.
func checkNoSecretsInManifests(m *manifests) []string {
	var out []string
	for name, s := range m.Secrets {
		if len(s.Data) > 0 || len(s.StringData) > 0 {
			out = append(out, fmt.Sprintf("Secret %s carries values in the repository; create it in the cluster (docs/deployment.md)", name))
		}
	}
	for name, cm := range m.ConfigMaps {
		for k := range cm.Data {
			if secretNameRe.MatchString(k) {
				out = append(out, fmt.Sprintf("ConfigMap %s holds %s: a secret belongs in a Secret", name, k))
			}
		}
	}
	return out
}

// checkK8sGoMemLimits: every Staybook container has a memory limit and
// GOMEMLIMIT, a literal value within the band of that limit (see
// checkGoMemLimit; the downward API could give the limit itself, not a
// share of it).
func checkK8sGoMemLimits(t testing.TB, m *manifests) []string {
	var out []string
	for _, svc := range serviceDirs(t) {
		d, ok := m.Deployments[svc]
		if !ok {
			continue // checkStaybookDeployments reports it
		}
		c := staybookContainer(d)
		if c == nil {
			continue
		}
		where := fmt.Sprintf("%s Deployment %s", filepath.Base(m.Dir), svc)
		gml := ""
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				if e.ValueFrom != nil {
					out = append(out, where+": GOMEMLIMIT from the downward API is the whole limit; give it a value within the band")
				}
				gml = e.Value
			}
		}
		var limit int64
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			limit = q.Value()
		}
		out = append(out, checkGoMemLimit(where, gml, limit)...)
	}
	return out
}

// --- tests ---

func TestKustomize_BaseAndOverlaysBuildAndDecodeStrictly(t *testing.T) {
	t.Parallel()
	base, overlays := kustomizations(t)
	for _, dir := range append([]string{base}, overlays...) {
		m := build(t, dir)
		report(t, m.DecodeErrors)
		if len(m.Deployments) == 0 {
			t.Errorf("%s builds no Deployment", dir)
		}
	}
}

func TestKustomize_EveryDeploymentIsLockedDown(t *testing.T) {
	t.Parallel()
	base, overlays := kustomizations(t)
	for _, dir := range append([]string{base}, overlays...) {
		report(t, checkLockedDown(build(t, dir)))
	}
}

func TestKustomize_GoMemLimitFollowsEachMemoryLimit(t *testing.T) {
	t.Parallel()
	base, overlays := kustomizations(t)
	for _, dir := range append([]string{base}, overlays...) {
		report(t, checkK8sGoMemLimits(t, build(t, dir)))
	}
}

// Compose and Kubernetes give each service the same memory limit and the
// same GOMEMLIMIT.
func TestKustomize_MemoryLimitsAreComposes(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	base, _ := kustomizations(t)
	m := build(t, base)
	for _, s := range staybookServices(t, p) {
		d, ok := m.Deployments[s.Name]
		if !ok {
			continue
		}
		c := staybookContainer(d)
		if c == nil {
			continue
		}
		var kgml string
		for _, e := range c.Env {
			if e.Name == "GOMEMLIMIT" {
				kgml = e.Value
			}
		}
		cgml, _ := envValue(s, "GOMEMLIMIT")
		klimit := c.Resources.Limits.Memory().Value()
		if cgml != kgml || memoryLimit(s) != klimit {
			t.Errorf("%s: compose has GOMEMLIMIT %q under %d MiB, Kubernetes %q under %d MiB", s.Name, cgml, memoryLimit(s)>>20, kgml, klimit>>20)
		}
	}
}

func TestKustomize_OperatorResourcesHaveWhatTheirOperatorsRequire(t *testing.T) {
	t.Parallel()
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		report(t, checkCustomResources(build(t, dir)))
	}
}

func TestKustomize_ServicesRunWithTheirContractAndEnvironment(t *testing.T) {
	t.Parallel()
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		report(t, checkStaybookDeployments(t, build(t, dir)))
	}
}

func TestKustomize_ServicesAutoscalersAndBudgetsTargetRealDeployments(t *testing.T) {
	t.Parallel()
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		m := build(t, dir)
		report(t, checkWiring(m))
		if web, ok := m.Deployments["web"]; ok && m.hpaOf(web) == nil {
			t.Errorf("%s: no HorizontalPodAutoscaler for web", dir)
		}
	}
}

func TestKustomize_BookingReplicasFitTheDatabaseBudget(t *testing.T) {
	t.Parallel()
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		report(t, checkK8sDatabaseBudget(t, build(t, dir)))
	}
}

func TestKustomize_NoSecretValueIsCommitted(t *testing.T) {
	t.Parallel()
	base, overlays := kustomizations(t)
	for _, dir := range append([]string{base}, overlays...) {
		report(t, checkNoSecretsInManifests(build(t, dir)))
	}
}

func TestDeploymentDoc_ShowsHowToCreateTheSecret(t *testing.T) {
	t.Parallel()
	doc := readFile(t, filepath.Join(repoRoot(t), "docs", "deployment.md"))
	if !strings.Contains(doc, "kubectl create secret generic "+externalSecret) {
		t.Errorf("docs/deployment.md does not show `kubectl create secret generic %s`", externalSecret)
	}
	if len(documentedSecretKeys(t)) == 0 {
		t.Error("docs/deployment.md names no --from-literal=KEY= for the Secret")
	}
}

func TestKustomize_JaegerConfigIsComposes(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	compose := readFile(t, filepath.Join(root, "deployments", "jaeger", "container.yaml"))
	k8s := readFile(t, filepath.Join(root, k8sDir, "base", "jaeger", "config.yaml"))
	if compose != k8s {
		t.Error("deployments/k8s/base/jaeger/config.yaml differs from deployments/jaeger/container.yaml: copy one over the other")
	}
}

// TestKustomizeChecks_CatchCommonMistakes breaks a built overlay the way an
// edit might and expects each check to notice.
func TestKustomizeChecks_CatchCommonMistakes(t *testing.T) {
	t.Parallel()
	_, overlays := kustomizations(t)
	dir := overlays[0]
	fresh := func(t *testing.T) *manifests {
		// A private copy: the cached build is shared by the other tests.
		k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
		res, err := k.Run(filesys.MakeFsOnDisk(), dir)
		if err != nil {
			t.Fatal(err)
		}
		m := &manifests{Dir: dir, Deployments: map[string]*appsv1.Deployment{}, Services: map[string]*corev1.Service{},
			ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}, Namespaces: map[string]*corev1.Namespace{},
			HPAs: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, PDBs: map[string]*policyv1.PodDisruptionBudget{},
			RabbitMQ: map[string]map[string]any{}, Postgres: map[string]map[string]any{}, Databases: map[string]map[string]any{}}
		for _, r := range res.Resources() {
			data, _ := r.AsYAML()
			m.decode(r.GetApiVersion(), r.GetKind(), r.GetName(), data)
		}
		return m
	}
	container := func(m *manifests, d string) *corev1.Container { return staybookContainer(m.Deployments[d]) }
	envIndex := func(c *corev1.Container, name string) int {
		return slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	}
	cases := []struct {
		name    string
		breakIt func(*manifests)
		check   func(testing.TB, *manifests) []string
	}{
		{"no readiness probe", func(m *manifests) { container(m, "booking").ReadinessProbe = nil }, noT(checkLockedDown)},
		{"writable root file system", func(m *manifests) { container(m, "web").SecurityContext.ReadOnlyRootFilesystem = ptrTo(false) }, noT(checkLockedDown)},
		{"runs as root", func(m *manifests) {
			m.Deployments["email"].Spec.Template.Spec.SecurityContext.RunAsNonRoot = nil
		}, noT(checkLockedDown)},
		{"no memory limit", func(m *manifests) { delete(container(m, "voucher").Resources.Limits, corev1.ResourceMemory) }, noT(checkLockedDown)},
		{"no memory limit beside GOMEMLIMIT", func(m *manifests) { delete(container(m, "booking").Resources.Limits, corev1.ResourceMemory) }, checkK8sGoMemLimits},
		{"no GOMEMLIMIT", func(m *manifests) {
			c := container(m, "notification")
			c.Env = slices.Delete(c.Env, envIndex(c, "GOMEMLIMIT"), envIndex(c, "GOMEMLIMIT")+1)
		}, checkK8sGoMemLimits},
		{"GOMEMLIMIT from the downward API", func(m *manifests) {
			c := container(m, "email")
			c.Env[envIndex(c, "GOMEMLIMIT")] = corev1.EnvVar{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{
				ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}}
		}, checkK8sGoMemLimits},
		{"capability kept", func(m *manifests) { container(m, "notification").SecurityContext.Capabilities.Drop = nil }, noT(checkLockedDown)},
		{"latest image", func(m *manifests) {
			m.Deployments["jaeger"].Spec.Template.Spec.Containers[0].Image = "jaegertracing/jaeger:latest"
		}, noT(checkLockedDown)},
		{"two RabbitMQ nodes", func(m *manifests) {
			for _, rc := range m.RabbitMQ {
				rc["spec"].(map[string]any)["replicas"] = float64(2)
			}
		}, noT(checkCustomResources)},
		{"one PostgreSQL instance", func(m *manifests) {
			for _, pg := range m.Postgres {
				pg["spec"].(map[string]any)["instances"] = float64(1)
			}
		}, noT(checkCustomResources)},
		{"no storage", func(m *manifests) {
			for _, pg := range m.Postgres {
				delete(pg["spec"].(map[string]any), "storage")
			}
		}, noT(checkCustomResources)},
		{"liveness probe on /readyz", func(m *manifests) { container(m, "deadletters").LivenessProbe.HTTPGet.Path = "/readyz" }, checkStaybookDeployments},
		{"secret variable dropped", func(m *manifests) {
			c := container(m, "web")
			c.Env = slices.Delete(c.Env, envIndex(c, "BOOKING_ID_SECRET"), envIndex(c, "BOOKING_ID_SECRET")+1)
		}, checkStaybookDeployments},
		{"secret as a literal", func(m *manifests) {
			c := container(m, "deadletters")
			c.Env[envIndex(c, "ADMIN_TOKEN")] = corev1.EnvVar{Name: "ADMIN_TOKEN", Value: "admin"}
		}, checkStaybookDeployments},
		{"undocumented secret key", func(m *manifests) {
			c := container(m, "notification")
			c.Env[envIndex(c, "NTFY_TOPIC_SECRET")].ValueFrom.SecretKeyRef.Key = "TOPIC_SECRET"
		}, checkStaybookDeployments},
		{"password variable defined after its use", func(m *manifests) {
			c := container(m, "booking")
			i := envIndex(c, "AMQP_PASSWORD")
			pw := c.Env[i]
			c.Env = append(slices.Delete(c.Env, i, i+1), pw)
		}, checkStaybookDeployments},
		{"database URL at a missing Service", func(m *manifests) {
			c := container(m, "voucher")
			c.Env[envIndex(c, "DATABASE_URL")].Value = strings.Replace(c.Env[envIndex(c, "DATABASE_URL")].Value, "-rw:", "-primary:", 1)
		}, checkStaybookDeployments},
		{"classic queues", func(m *manifests) {
			for name, cm := range m.ConfigMaps {
				if cm.Data["AMQP_QUEUE_TYPE"] != "" {
					m.ConfigMaps[name].Data["AMQP_QUEUE_TYPE"] = "classic"
				}
			}
		}, checkStaybookDeployments},
		{"Service selects nothing", func(m *manifests) {
			m.Services["email"].Spec.Selector = map[string]string{"app.kubernetes.io/name": "mail"}
		}, noT(checkWiring)},
		{"missing ConfigMap mounted", func(m *manifests) {
			m.Deployments["jaeger"].Spec.Template.Spec.Volumes[0].ConfigMap.Name = "jaeger-config"
		}, noT(checkWiring)},
		{"autoscaler on a missing Deployment", func(m *manifests) { m.HPAs["web"].Spec.ScaleTargetRef.Name = "frontend" }, noT(checkWiring)},
		{"replicas beside an autoscaler", func(m *manifests) { m.Deployments["web"].Spec.Replicas = ptrTo(int32(3)) }, noT(checkWiring)},
		{"booking scaled past the database", func(m *manifests) { m.Deployments["booking"].Spec.Replicas = ptrTo(int32(12)) }, checkK8sDatabaseBudget},
		{"committed secret", func(m *manifests) {
			m.Secrets["staybook-secrets"] = &corev1.Secret{StringData: map[string]string{"ADMIN_TOKEN": "x"}}
		}, noT(checkNoSecretsInManifests)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := fresh(t)
			if got := c.check(t, m); len(got) != 0 {
				t.Fatalf("the check fails on the real manifests already: %v", got)
			}
			c.breakIt(m)
			if got := c.check(t, m); len(got) == 0 {
				t.Error("the check did not notice")
			} else {
				t.Logf("caught: %s", got[0])
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func noT(f func(*manifests) []string) func(testing.TB, *manifests) []string {
	return func(_ testing.TB, m *manifests) []string { return f(m) }
}
