package deploytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

const composeFile = "docker-compose.yml"

// loadCompose loads docker-compose.yml as `docker compose` does, with
// .env.example as the env file (so the required variables resolve), every
// profile active, and nothing from the environment of the test process.
func loadCompose(t testing.TB) *types.Project {
	t.Helper()
	p, err := loadComposeWith(t, repoRoot(t), filepath.Join(repoRoot(t), ".env.example"))
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func loadComposeWith(t testing.TB, root string, envFiles ...string) (*types.Project, error) {
	t.Helper()
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(root),
		cli.WithProfiles([]string{"*"}),
	}
	if len(envFiles) > 0 {
		opts = append(opts, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	o, err := cli.NewProjectOptions([]string{filepath.Join(root, composeFile)}, opts...)
	if err != nil {
		return nil, err
	}
	return o.LoadProject(context.Background())
}

// staybookServices are the compose services that are Staybook services.
func staybookServices(t testing.TB, p *types.Project) []types.ServiceConfig {
	t.Helper()
	var out []types.ServiceConfig
	for _, name := range sortedServiceNames(p) {
		if isStaybookService(t, name) {
			out = append(out, p.Services[name])
		}
	}
	return out
}

func sortedServiceNames(p *types.Project) []string {
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func envValue(s types.ServiceConfig, name string) (string, bool) {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func replicas(s types.ServiceConfig) int {
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	if s.Scale != nil {
		return *s.Scale
	}
	return 1
}

// exposedPorts are the container ports a compose service answers on: the
// Staybook services' HTTP_ADDR, the targets of published ports, and expose.
func exposedPorts(t testing.TB, s types.ServiceConfig) []int {
	var out []int
	if addr, ok := envValue(s, "HTTP_ADDR"); ok && isStaybookService(t, s.Name) {
		out = append(out, listenPort(addr))
	}
	for _, p := range s.Ports {
		out = append(out, int(p.Target))
	}
	for _, e := range s.Expose {
		n, _ := strconv.Atoi(strings.Split(e, "/")[0])
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// --- checks: each returns the problems it finds, so that the tests below
// --- can also show that a broken file is caught.

func checkComposeHasEveryService(t testing.TB, p *types.Project) []string {
	var out []string
	for _, svc := range serviceDirs(t) {
		if _, ok := p.Services[svc]; !ok {
			out = append(out, fmt.Sprintf("services/%s has no compose service %q", svc, svc))
		}
	}
	return out
}

// isJob: a service that runs once and exits (the load test), not a server:
// it has no health check and is never restarted.
func isJob(s types.ServiceConfig) bool {
	return slices.Contains(s.Profiles, "loadtest") && s.Restart == types.RestartPolicyNo
}

func checkHealthChecks(t testing.TB, p *types.Project) []string {
	var out []string
	for _, name := range sortedServiceNames(p) {
		s := p.Services[name]
		if isJob(s) {
			continue
		}
		hc := s.HealthCheck
		switch {
		case hc == nil || len(hc.Test) == 0:
			out = append(out, name+": no health check (depends_on: service_healthy cannot wait for it)")
			continue
		case hc.Disable || hc.Test[0] == "NONE":
			out = append(out, name+": health check disabled")
			continue
		}
		if isStaybookService(t, name) && !slices.Equal(hc.Test, []string{"CMD", "/app", "healthcheck"}) {
			out = append(out, fmt.Sprintf(`%s: health check %q, want ["CMD", "/app", "healthcheck"] (the image has no shell and no curl)`, name, hc.Test))
		}
		if hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL" {
			out = append(out, fmt.Sprintf("%s: health check %q must start with CMD or CMD-SHELL", name, hc.Test))
		}
	}
	return out
}

// softDependencies may be waited for with service_started: the services
// work without them (traces are dropped while Jaeger is away).
var softDependencies = []string{"jaeger"}

func checkDependencies(t testing.TB, p *types.Project) []string {
	var out []string
	for _, s := range staybookServices(t, p) {
		needs := map[string]string{"rabbitmq": "every service uses the broker"}
		if loadServiceConfigs(t)[s.Name].UsesDatabase {
			needs["postgres"] = "it opens its database at start-up"
		}
		// Every infrastructure host the service's environment points at.
		for name, v := range s.Environment {
			if v == nil || !isServerAddressVariable(name) {
				continue
			}
			host, _, ok := splitAddress(*v)
			if _, isService := p.Services[host]; ok && isService && !isStaybookService(t, host) && !slices.Contains(softDependencies, host) {
				needs[host] = name + " points at it"
			}
		}
		for dep, why := range needs {
			d, ok := s.DependsOn[dep]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s: no depends_on %s (%s)", s.Name, dep, why))
			case d.Condition != types.ServiceConditionHealthy:
				out = append(out, fmt.Sprintf("%s: depends_on %s with condition %q, want service_healthy (%s)", s.Name, dep, d.Condition, why))
			}
		}
	}
	for _, name := range sortedServiceNames(p) {
		for dep := range p.Services[name].DependsOn {
			if _, ok := p.Services[dep]; !ok {
				out = append(out, fmt.Sprintf("%s: depends_on %s, which is no service", name, dep))
			}
		}
	}
	return out
}

func checkComposeImages(t testing.TB, p *types.Project) []string {
	var out []string
	for _, name := range sortedServiceNames(p) {
		s := p.Services[name]
		if s.Build != nil {
			// Built here, never pulled: it needs a name, and not latest.
			if _, tag, _ := splitImage(s.Image); s.Image == "" || tag == "" || tag == "latest" {
				out = append(out, fmt.Sprintf("%s: built image %q needs a tag other than latest", name, s.Image))
			}
			continue
		}
		if problem := imagePinProblem(s.Image); problem != "" {
			out = append(out, fmt.Sprintf("%s: image %q is not pinned: %s", name, s.Image, problem))
		}
	}
	return out
}

// checkComposeEnvironment checks each Staybook service's environment against
// what its code reads.
func checkComposeEnvironment(t testing.TB, p *types.Project) []string {
	var out []string
	topology := map[string]map[string]string{} // variable -> value -> services
	for _, s := range staybookServices(t, p) {
		for name, why := range requiredVariables(t, s.Name) {
			if v, ok := envValue(s, name); !ok || strings.TrimSpace(v) == "" {
				out = append(out, fmt.Sprintf("%s: %s is not set (%s)", s.Name, name, why))
			}
		}
		for _, name := range []string{"AMQP_QUEUE_TYPE", "BOOKING_QUEUE_MAX", "AMQP_DELIVERY_LIMIT"} {
			v, _ := envValue(s, name)
			if topology[name] == nil {
				topology[name] = map[string]string{}
			}
			topology[name][v] += s.Name + " "
		}
		if v, _ := envValue(s, "AMQP_QUEUE_TYPE"); v != "quorum" {
			out = append(out, fmt.Sprintf("%s: AMQP_QUEUE_TYPE is %q with .env.example, want quorum (docs/scaling.md)", s.Name, v))
		}
		if v, _ := envValue(s, "HTTP_ADDR"); listenPort(v) != contractPorts[s.Name] {
			out = append(out, fmt.Sprintf("%s: HTTP_ADDR %q, the contract's port is %d", s.Name, v, contractPorts[s.Name]))
		}
		for name, v := range s.Environment {
			if !knownVariable(t, name) {
				out = append(out, fmt.Sprintf("%s: %s is read by no Staybook code (a typo?)", s.Name, name))
			}
			if v == nil {
				continue
			}
			if slices.Contains(publicURLVariables, name) && strings.Contains(*v, "://") {
				if host, _, _ := splitAddress(*v); p.Services[host].Name != "" {
					out = append(out, fmt.Sprintf("%s: %s=%s is followed by browsers and apps, which cannot resolve the container name %s", s.Name, name, *v, host))
				}
				continue
			}
			if !isServerAddressVariable(name) {
				continue
			}
			out = append(out, checkAddress(t, p, s.Name, name, *v)...)
		}
	}
	for name, values := range topology {
		if len(values) > 1 {
			out = append(out, fmt.Sprintf("%s differs between services %v: the topology must be declared identically everywhere", name, values))
		}
	}
	return out
}

// checkAddress checks that an address a service connects to names a compose
// service and a port that service answers on.
func checkAddress(t testing.TB, p *types.Project, svc, name, value string) []string {
	if value == "" {
		return nil
	}
	for _, addr := range strings.Split(value, ",") {
		host, port, ok := splitAddress(strings.TrimSpace(addr))
		if !ok {
			return []string{fmt.Sprintf("%s: %s=%q has no host and port", svc, name, value)}
		}
		target, isService := p.Services[host]
		if !isService {
			return []string{fmt.Sprintf("%s: %s=%q: %s is no compose service (inside a container, localhost is the container itself)", svc, name, value, host)}
		}
		if !slices.Contains(exposedPorts(t, target), port) {
			return []string{fmt.Sprintf("%s: %s=%q: %s answers on %v, not %d", svc, name, value, host, exposedPorts(t, target), port)}
		}
		if name == "DATABASE_URL" && databaseName(value) != "staybook_"+svc {
			return []string{fmt.Sprintf("%s: DATABASE_URL names database %q, want staybook_%s (one database per service)", svc, databaseName(value), svc)}
		}
	}
	return nil
}

// infraPorts are the contract's published ports of the infrastructure
// (docs/architecture.md, "Running"); ntfy has no contract port.
var infraPorts = map[string][]int{
	"rabbitmq": {5672, 15672},
	"postgres": {5432},
	"jaeger":   {16686, 4317, 4318},
	"mailpit":  {8025, 1025},
	"ntfy":     {8090},
}

func checkComposePorts(t testing.TB, p *types.Project) []string {
	var out []string
	for _, s := range staybookServices(t, p) {
		want := contractPorts[s.Name]
		for _, port := range s.Ports {
			if int(port.Target) != want {
				out = append(out, fmt.Sprintf("%s: publishes container port %d, but it listens on %d", s.Name, port.Target, want))
			}
			if port.Published == "" {
				continue
			}
			switch {
			case replicas(s) > 1:
				out = append(out, fmt.Sprintf("%s: %d replicas cannot share the published port %s", s.Name, replicas(s), port.Published))
			case port.Published != strconv.Itoa(want):
				out = append(out, fmt.Sprintf("%s: published on %s, the contract's port is %d", s.Name, port.Published, want))
			case port.HostIP != "127.0.0.1":
				out = append(out, fmt.Sprintf("%s: internal API published on %q, want 127.0.0.1 only", s.Name, port.HostIP))
			}
		}
	}
	for svc, ports := range infraPorts {
		s, ok := p.Services[svc]
		if !ok {
			out = append(out, "no compose service "+svc)
			continue
		}
		var published []int
		for _, port := range s.Ports {
			n, _ := strconv.Atoi(port.Published)
			published = append(published, n)
		}
		for _, want := range ports {
			if !slices.Contains(published, want) {
				out = append(out, fmt.Sprintf("%s: port %d not published (published: %v)", svc, want, published))
			}
		}
	}
	return out
}

var nginxUpstreamRe = regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9_-]+):(\d+)\b`)

// checkLoadBalancer: the web tier runs as several replicas behind a load
// balancer that alone publishes the contract's port 8080.
func checkLoadBalancer(t testing.TB, p *types.Project) []string {
	var out []string
	web, ok := p.Services["web"]
	if !ok {
		return []string{"no web service"}
	}
	if replicas(web) < 2 {
		out = append(out, fmt.Sprintf("web: %d replica(s), want several behind the load balancer", replicas(web)))
	}
	if booking, ok := p.Services["booking"]; ok && replicas(booking) < 2 {
		out = append(out, fmt.Sprintf("booking: %d replica(s), want several competing consumers", replicas(booking)))
	}
	var lb *types.ServiceConfig
	for _, name := range sortedServiceNames(p) {
		s := p.Services[name]
		for _, port := range s.Ports {
			if port.Published == strconv.Itoa(contractPorts["web"]) {
				lb = &s
			}
		}
	}
	if lb == nil {
		return append(out, "no service publishes the web port 8080")
	}
	if lb.Name == "web" {
		return append(out, "web publishes 8080 itself: its replicas need a load balancer in front")
	}
	if d, ok := lb.DependsOn["web"]; !ok || d.Condition != types.ServiceConditionHealthy {
		out = append(out, lb.Name+": does not wait for web to be healthy")
	}
	var upstreams []string
	for _, v := range lb.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		src, err := os.ReadFile(v.Source)
		if err != nil {
			continue // checkMounts reports it
		}
		for _, m := range nginxUpstreamRe.FindAllStringSubmatch(string(src), -1) {
			upstreams = append(upstreams, m[1]+":"+m[2])
		}
	}
	if want := fmt.Sprintf("web:%d", contractPorts["web"]); !slices.Contains(upstreams, want) {
		out = append(out, fmt.Sprintf("%s: its mounted configuration proxies to %v, want %s", lb.Name, upstreams, want))
	}
	return out
}

func checkLimitsAndRestarts(t testing.TB, p *types.Project) []string {
	var out []string
	for _, name := range sortedServiceNames(p) {
		s := p.Services[name]
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes <= 0 {
			out = append(out, name+": no deploy.resources.limits.memory")
		}
		if (s.Restart == "" || s.Restart == types.RestartPolicyNo) && !isJob(s) {
			if s.Deploy == nil || s.Deploy.RestartPolicy == nil {
				out = append(out, name+": no restart policy")
			}
		}
	}
	for _, s := range staybookServices(t, p) {
		shutdown := 20 * time.Second
		if v, ok := envValue(s, "SHUTDOWN_TIMEOUT"); ok {
			if d, err := time.ParseDuration(v); err == nil {
				shutdown = d
			}
		}
		// After SHUTDOWN_TIMEOUT a handler still running is cancelled and
		// given 5 s to return; then the publisher closes and traces flush
		// (up to 5 s): docs/architecture.md, "Shutdown".
		if need := shutdown + shutdownMargin; s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) < need {
			out = append(out, fmt.Sprintf("%s: stop_grace_period must be at least SHUTDOWN_TIMEOUT + %s (%s), or docker kills in-flight work (default 10s)", s.Name, shutdownMargin, need))
		}
	}
	return out
}

// The Go runtime's soft memory limit, GOMEMLIMIT, is set from each
// service's memory limit: explicit, beside the limit, in compose and in
// Kubernetes alike (the same figures in both). Within this band of the
// limit: high enough to be the collector's guide under load, low enough to
// leave the rest of the process (goroutine stacks, the runtime's own
// memory, cgo-free buffers) room before the kernel kills it.
const (
	goMemLimitMin = 0.75
	goMemLimitMax = 0.90
)

// checkGoMemLimit: a Go service has a memory limit and a GOMEMLIMIT within
// the band of it.
func checkGoMemLimit(where, goMemLimit string, limit int64) []string {
	switch {
	case limit <= 0:
		return []string{where + ": no memory limit"}
	case goMemLimit == "":
		return []string{fmt.Sprintf("%s: no GOMEMLIMIT: set it to %.0f to %.0f%% of the memory limit (%d MiB)", where, goMemLimitMin*100, goMemLimitMax*100, limit>>20)}
	}
	gml := parseGoMemLimit(goMemLimit)
	if gml <= 0 {
		return []string{fmt.Sprintf("%s: GOMEMLIMIT %q is not a size (e.g. 200MiB)", where, goMemLimit)}
	}
	if r := float64(gml) / float64(limit); r < goMemLimitMin || r > goMemLimitMax {
		return []string{fmt.Sprintf("%s: GOMEMLIMIT %s is %.0f%% of the memory limit %d MiB, want %.0f to %.0f%%",
			where, goMemLimit, r*100, limit>>20, goMemLimitMin*100, goMemLimitMax*100)}
	}
	return nil
}

// memoryLimit is a compose service's memory limit in bytes, 0 without one.
func memoryLimit(s types.ServiceConfig) int64 {
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil {
		return 0
	}
	return int64(s.Deploy.Resources.Limits.MemoryBytes)
}

func checkComposeGoMemLimits(t testing.TB, p *types.Project) []string {
	var out []string
	for _, s := range staybookServices(t, p) {
		gml, _ := envValue(s, "GOMEMLIMIT")
		out = append(out, checkGoMemLimit("docker-compose.yml "+s.Name, gml, memoryLimit(s))...)
	}
	return out
}

// poolSizes are the PostgreSQL pool sizes of the services with a database,
// as their code computes them (services/*/main.go).
var poolSizes = map[string]func(env func(string) int) int{
	"booking":     func(env func(string) int) int { return env("BOOKING_DB_MAX_CONNS") },
	"deadletters": func(env func(string) int) int { return env("DEADLETTERS_DB_MAX_CONNS") },
	"email":       func(env func(string) int) int { return env("EMAIL_WORKERS") + 4 },
	"voucher":     func(env func(string) int) int { return env("VOUCHER_WORKERS") + 4 },
}

// reservedConnections are kept free of the services' pools: superuser
// slots, replication, the operator's and a person's psql.
const reservedConnections = 10

// variableInt is a service's integer variable: the deployment's value, or
// the code's default.
func variableInt(t testing.TB, svc string, lookup func(string) (string, bool)) func(string) int {
	return func(name string) int {
		if v, ok := lookup(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Errorf("%s: %s=%q is not a number", svc, name, v)
			}
			return n
		}
		v, ok := loadServiceConfigs(t)[svc].Variables[name]
		if !ok {
			t.Errorf("%s does not read %s: update poolSizes", svc, name)
			return 0
		}
		d, ok := v.defaultValue()
		if !ok {
			t.Errorf("%s: no literal default for %s: set it in the deployment", svc, name)
			return 0
		}
		n, _ := strconv.Atoi(d)
		return n
	}
}

var maxConnectionsRe = regexp.MustCompile(`max_connections=(\d+)`)

// checkDatabaseBudget: the pools of all replicas fit max_connections, and
// the booking workers fit their pool.
func checkDatabaseBudget(t testing.TB, p *types.Project) []string {
	var out []string
	maxConns := 100 // PostgreSQL's default
	if m := maxConnectionsRe.FindStringSubmatch(strings.Join(p.Services["postgres"].Command, " ")); m != nil {
		maxConns, _ = strconv.Atoi(m[1])
	}
	total, parts := 0, []string{}
	for _, s := range staybookServices(t, p) {
		if !loadServiceConfigs(t)[s.Name].UsesDatabase {
			continue
		}
		size, ok := poolSizes[s.Name]
		if !ok {
			out = append(out, s.Name+": has a database but no entry in poolSizes (deploytest)")
			continue
		}
		n := replicas(s) * size(variableInt(t, s.Name, func(k string) (string, bool) { return envValue(s, k) }))
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", s.Name, n))
	}
	if total > maxConns-reservedConnections {
		out = append(out, fmt.Sprintf("the pools need %d connections (%s), PostgreSQL allows %d minus %d reserved", total, strings.Join(parts, ", "), maxConns, reservedConnections))
	}
	if b, ok := p.Services["booking"]; ok {
		env := variableInt(t, "booking", func(k string) (string, bool) { return envValue(b, k) })
		if env("BOOKING_WORKERS") >= env("BOOKING_DB_MAX_CONNS") {
			out = append(out, fmt.Sprintf("booking: BOOKING_WORKERS %d must stay below BOOKING_DB_MAX_CONNS %d (the outbox forwarder and the HTTP API need connections too)", env("BOOKING_WORKERS"), env("BOOKING_DB_MAX_CONNS")))
		}
	}
	return out
}

var createDatabaseRe = regexp.MustCompile(`(?i)CREATE\s+DATABASE\s+"?([a-z0-9_]+)"?`)

// checkPostgresInit: the init scripts create exactly the databases the
// services' DATABASE_URLs name.
func checkPostgresInit(t testing.TB, p *types.Project) []string {
	var created []string
	for _, v := range p.Services["postgres"].Volumes {
		if v.Target != "/docker-entrypoint-initdb.d" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(v.Source, "*.sql"))
		for _, f := range files {
			for _, m := range createDatabaseRe.FindAllStringSubmatch(readFile(t, f), -1) {
				created = append(created, m[1])
			}
		}
	}
	var wanted []string
	for _, s := range staybookServices(t, p) {
		if u, ok := envValue(s, "DATABASE_URL"); ok {
			wanted = append(wanted, databaseName(u))
		}
	}
	slices.Sort(created)
	slices.Sort(wanted)
	if !slices.Equal(created, wanted) {
		return []string{fmt.Sprintf("postgres init scripts (mounted on /docker-entrypoint-initdb.d) create %v, the services use %v", created, wanted)}
	}
	return nil
}

// checkMounts: every bind-mounted file exists (a missing source would be
// created by Docker as an empty directory, and the container would start
// with no configuration). A job's writable mount is its output folder,
// which the Makefile creates before the run.
func checkMounts(p *types.Project) []string {
	var out []string
	for _, name := range sortedServiceNames(p) {
		for _, v := range p.Services[name].Volumes {
			if v.Type != types.VolumeTypeBind || isJob(p.Services[name]) && !v.ReadOnly {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				out = append(out, fmt.Sprintf("%s: mounts %s, which does not exist", name, v.Source))
			}
		}
	}
	return out
}

// dashboardMetrics must each appear in the Grafana dashboard.
var dashboardMetrics = []string{
	"staybook_queue_backlog_messages", "staybook_bookings_total", "staybook_handler_execution_time_seconds",
	"staybook_handler_failures_total", "staybook_messages_dead_lettered_total", "staybook_messages_discarded_total",
}

// datasourceTargets: where each type of Grafana datasource must point.
var datasourceTargets = map[string]string{"prometheus": "prometheus:9090", "jaeger": "jaeger:16686"}

// checkObservability: Prometheus scrapes every Staybook service on its port,
// and Grafana's dashboard shows the key metrics from the provisioned datasource.
func checkObservability(t testing.TB, p *types.Project) []string {
	var out []string
	mounted := func(svc, target string) string {
		for _, v := range p.Services[svc].Volumes {
			if v.Target == target {
				return v.Source
			}
		}
		out = append(out, fmt.Sprintf("%s: nothing mounted on %s", svc, target))
		return ""
	}
	for _, svc := range []string{"prometheus", "grafana"} {
		if !slices.Contains(p.Services[svc].Profiles, "observability") {
			out = append(out, svc+": not in the profile observability")
		}
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `json:"job_name"`
			DNSSDConfigs []struct {
				Names []string `json:"names"`
				Port  int      `json:"port"`
			} `json:"dns_sd_configs"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if src := mounted("prometheus", "/etc/prometheus/prometheus.yml"); src != "" {
		if err := yaml.Unmarshal([]byte(readFile(t, src)), &prom); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", src, err))
		}
	}
	scraped := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[fmt.Sprintf("%s:%d", n, d.Port)] = true
			}
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				scraped[target] = true
			}
		}
	}
	for _, s := range staybookServices(t, p) {
		if target := fmt.Sprintf("%s:%d", s.Name, contractPorts[s.Name]); !scraped[target] {
			out = append(out, "prometheus.yml does not scrape "+target)
		}
	}
	provisioning := mounted("grafana", "/etc/grafana/provisioning")
	dashboards := mounted("grafana", "/etc/grafana/dashboards")
	if provisioning == "" || dashboards == "" {
		return out
	}
	var datasources struct {
		Datasources []struct {
			UID  string `json:"uid"`
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"datasources"`
	}
	files, _ := filepath.Glob(filepath.Join(provisioning, "datasources", "*.yaml"))
	for _, f := range files {
		var one struct {
			Datasources []struct {
				UID  string `json:"uid"`
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"datasources"`
		}
		if err := yaml.Unmarshal([]byte(readFile(t, f)), &one); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", f, err))
		}
		datasources.Datasources = append(datasources.Datasources, one.Datasources...)
	}
	uids := map[string]bool{}
	for _, d := range datasources.Datasources {
		uids[d.UID] = true
		want, ok := datasourceTargets[d.Type]
		if !ok {
			out = append(out, fmt.Sprintf("grafana datasource %s has type %q, want one of prometheus, jaeger", d.UID, d.Type))
			continue
		}
		if host, port, _ := splitAddress(d.URL); fmt.Sprintf("%s:%d", host, port) != want {
			out = append(out, fmt.Sprintf("grafana datasource %s points at %s, want http://%s", d.UID, d.URL, want))
		}
	}
	dashFiles, _ := filepath.Glob(filepath.Join(dashboards, "*.json"))
	if len(dashFiles) == 0 {
		out = append(out, "no dashboard JSON in "+dashboards)
	}
	var exprs []string
	for _, f := range dashFiles {
		var dash struct {
			Panels []struct {
				Title      string `json:"title"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal([]byte(readFile(t, f)), &dash); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		for _, panel := range dash.Panels {
			if !uids[panel.Datasource.UID] {
				out = append(out, fmt.Sprintf("%s: panel %q uses datasource %q, provisioned: %v", filepath.Base(f), panel.Title, panel.Datasource.UID, uids))
			}
			for _, target := range panel.Targets {
				exprs = append(exprs, target.Expr)
			}
		}
	}
	all := strings.Join(exprs, "\n")
	for _, m := range dashboardMetrics {
		if !strings.Contains(all, m) {
			out = append(out, "the Grafana dashboard shows no "+m)
		}
	}
	return out
}

var (
	interpolationRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?([^}]*)\}`)
	wholeRefRe      = regexp.MustCompile(`^\$\{([A-Z][A-Z0-9_]*)(:?\?[^}]*)?\}$`)
	userinfoRe      = regexp.MustCompile(`://[^:/@\s]+:([^@\s]+)@`)
)

// withoutComments drops the YAML comment lines, which may quote ${...}.
func withoutComments(raw string) string {
	lines := strings.Split(raw, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// isCredentialVariable: the variable holds a secret or a credential.
func isCredentialVariable(name string) bool {
	return secretNameRe.MatchString(name) || strings.HasSuffix(name, "_USER")
}

// checkComposeSecrets reads the file as written (before interpolation): no
// credential has a default, each is required somewhere (${NAME:?...}), and
// secret-named settings and URL passwords come from variables.
func checkComposeSecrets(raw string) []string {
	var out []string
	required := map[string]bool{}
	referenced := map[string]bool{}
	for _, m := range interpolationRe.FindAllStringSubmatch(withoutComments(raw), -1) {
		name, op := m[1], m[2]
		if !isCredentialVariable(name) {
			continue
		}
		referenced[name] = true
		switch op {
		case ":?", "?":
			required[name] = true
		case ":-", "-", ":+", "+":
			out = append(out, fmt.Sprintf("%s has a default in %s (%s): a secret must come from .env", name, composeFile, m[0]))
		}
	}
	for name := range referenced {
		if !required[name] {
			out = append(out, fmt.Sprintf("%s is never required: write ${%s:?set %s in .env} where it is first used", name, name, name))
		}
	}
	var doc struct {
		Services map[string]struct {
			Environment any `json:"environment"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		return append(out, err.Error())
	}
	for svc, s := range doc.Services {
		env := map[string]string{}
		switch e := s.Environment.(type) {
		case map[string]any:
			for k, v := range e {
				env[k] = fmt.Sprint(v)
			}
		case []any:
			for _, item := range e {
				k, v, _ := strings.Cut(fmt.Sprint(item), "=")
				env[k] = v
			}
		}
		for k, v := range env {
			if secretNameRe.MatchString(k) && !wholeRefRe.MatchString(v) {
				out = append(out, fmt.Sprintf("%s: %s=%q is written in the file; take it from a variable (${%s:?...})", svc, k, v, k))
			}
			if m := userinfoRe.FindStringSubmatch(v); m != nil && !wholeRefRe.MatchString(m[1]) {
				out = append(out, fmt.Sprintf("%s: %s has the password %q written in its URL", svc, k, m[1]))
			}
		}
	}
	sort.Strings(out)
	return out
}

// --- tests ---

func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// shutdownMargin is what a service needs after SHUTDOWN_TIMEOUT: 5 s for a
// cancelled handler to return, the publisher's close and the trace flush.
const shutdownMargin = 15 * time.Second

func TestCompose_HasAServiceForEveryServiceDirectory(t *testing.T) {
	t.Parallel()
	report(t, checkComposeHasEveryService(t, loadCompose(t)))
}

func TestCompose_EveryServiceHasAHealthCheck(t *testing.T) {
	t.Parallel()
	report(t, checkHealthChecks(t, loadCompose(t)))
}

func TestCompose_ServicesWaitForHealthyInfrastructure(t *testing.T) {
	t.Parallel()
	report(t, checkDependencies(t, loadCompose(t)))
}

func TestCompose_ImagesArePinned(t *testing.T) {
	t.Parallel()
	report(t, checkComposeImages(t, loadCompose(t)))
}

func TestCompose_ServicesGetTheVariablesTheirCodeNeeds(t *testing.T) {
	t.Parallel()
	report(t, checkComposeEnvironment(t, loadCompose(t)))
}

func TestCompose_PortsMatchTheContract(t *testing.T) {
	t.Parallel()
	report(t, checkComposePorts(t, loadCompose(t)))
}

func TestCompose_WebReplicasSitBehindTheLoadBalancer(t *testing.T) {
	t.Parallel()
	report(t, checkLoadBalancer(t, loadCompose(t)))
}

func TestCompose_EveryServiceHasAMemoryLimitAndARestartPolicy(t *testing.T) {
	t.Parallel()
	report(t, checkLimitsAndRestarts(t, loadCompose(t)))
}

func TestCompose_GoMemLimitFollowsEachMemoryLimit(t *testing.T) {
	t.Parallel()
	report(t, checkComposeGoMemLimits(t, loadCompose(t)))
}

func TestGoMemLimitCheck(t *testing.T) {
	t.Parallel()
	if got := checkGoMemLimit("x", "200MiB", 256<<20); len(got) != 0 {
		t.Fatalf("200MiB under 256 MiB: %v", got)
	}
	for name, c := range map[string]struct {
		gml   string
		limit int64
	}{
		"no limit":          {"200MiB", 0},
		"no GOMEMLIMIT":     {"", 256 << 20},
		"not a size":        {"200MB", 256 << 20},
		"at the limit":      {"256MiB", 256 << 20},
		"above it":          {"1GiB", 256 << 20},
		"far below it":      {"64MiB", 256 << 20},
		"left from a limit": {"200MiB", 512 << 20},
	} {
		if got := checkGoMemLimit(name, c.gml, c.limit); len(got) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

func TestCompose_PoolsFitTheDatabaseConnectionBudget(t *testing.T) {
	t.Parallel()
	report(t, checkDatabaseBudget(t, loadCompose(t)))
}

func TestCompose_PostgresCreatesOneDatabasePerService(t *testing.T) {
	t.Parallel()
	report(t, checkPostgresInit(t, loadCompose(t)))
}

func TestCompose_MountedFilesExist(t *testing.T) {
	t.Parallel()
	report(t, checkMounts(loadCompose(t)))
}

func TestCompose_ObservabilityProfileScrapesEveryServiceAndShowsTheKeyMetrics(t *testing.T) {
	t.Parallel()
	report(t, checkObservability(t, loadCompose(t)))
}

func TestCompose_NoSecretHasADefault(t *testing.T) {
	t.Parallel()
	report(t, checkComposeSecrets(readFile(t, filepath.Join(repoRoot(t), composeFile))))
}

func TestCompose_RefusesToLoadWithoutTheSecrets(t *testing.T) {
	t.Parallel()
	_, err := loadComposeWith(t, repoRoot(t)) // no env file at all
	if err == nil {
		t.Fatal("docker-compose.yml loads with no .env: its secrets are not required")
	}
	if !strings.Contains(err.Error(), "in .env") {
		t.Errorf("the error does not tell the user to set the variable in .env: %v", err)
	}
}

var dotenvLineRe = regexp.MustCompile(`(?m)^([A-Z][A-Z0-9_]*)=(.*)$`)

func TestEnvExample_DocumentsEveryVariableWithPlaceholderSecrets(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	example := map[string]string{}
	for _, m := range dotenvLineRe.FindAllStringSubmatch(readFile(t, filepath.Join(root, ".env.example")), -1) {
		example[m[1]] = m[2]
	}
	for _, m := range interpolationRe.FindAllStringSubmatch(withoutComments(readFile(t, filepath.Join(root, composeFile))), -1) {
		if _, ok := example[m[1]]; !ok {
			t.Errorf("%s uses ${%s}, which .env.example does not document", composeFile, m[1])
		}
	}
	for name, value := range example {
		if isCredentialVariable(name) && secretNameRe.MatchString(name) && !strings.Contains(value, "change-me") {
			t.Errorf(".env.example: %s=%q looks like a real secret; keep a change-me placeholder", name, value)
		}
	}
}

// The services refuse the change-me placeholders (and secrets under 32
// bytes) outside STAYBOOK_DEV; `make env`, which the README's first command
// runs, turns the example into a .env they accept.
func TestMakeEnv_GivesEveryPlaceholderAFreshSecretAndKeepsTheRest(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	dir := t.TempDir()
	for _, f := range []string{"Makefile", ".env.example"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(readFile(t, filepath.Join(root, f))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if out, err := exec.Command("make", "-s", "-C", dir, "env").CombinedOutput(); err != nil {
			t.Fatalf("make env: %v\n%s", err, out)
		}
		got := map[string]string{}
		for _, m := range dotenvLineRe.FindAllStringSubmatch(readFile(t, filepath.Join(dir, ".env")), -1) {
			got[m[1]] = m[2]
		}
		seen := map[string]bool{}
		for _, m := range dotenvLineRe.FindAllStringSubmatch(readFile(t, filepath.Join(root, ".env.example")), -1) {
			name, example := m[1], m[2]
			switch value := got[name]; {
			case !strings.Contains(example, "change-me"):
				if value != example {
					t.Errorf("%s: %q changed to %q", name, example, value)
				}
			case !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(value):
				t.Errorf("%s: %q is not a fresh 32-byte hex secret", name, value)
			case seen[value]:
				t.Errorf("%s: the same secret as another variable", name)
			default:
				seen[value] = true
			}
		}
		if len(seen) < 6 {
			t.Fatalf("only %d secrets generated", len(seen))
		}
		// A second run keeps the .env it finds (and succeeds, so that
		// `make env && docker compose up` works again); remove .env to renew.
		before := readFile(t, filepath.Join(dir, ".env"))
		if out, err := exec.Command("make", "-s", "-C", dir, "env").CombinedOutput(); err != nil {
			t.Fatalf("make env with a .env: %v\n%s", err, out)
		}
		if readFile(t, filepath.Join(dir, ".env")) != before {
			t.Fatal("make env overwrote an existing .env")
		}
		if err := os.Remove(filepath.Join(dir, ".env")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestComposeChecks_CatchCommonMistakes breaks the loaded project (or the
// raw file) the way a person editing it might, and expects each check to
// notice: a check that cannot fail would prove nothing.
func TestComposeChecks_CatchCommonMistakes(t *testing.T) {
	t.Parallel()
	edit := func(p *types.Project, name string, f func(*types.ServiceConfig)) {
		s := p.Services[name]
		f(&s)
		p.Services[name] = s
	}
	noScrapes := writeTemp(t, "scrape_configs: []\n")
	cases := []struct {
		name    string
		breakIt func(*types.Project)
		check   func(testing.TB, *types.Project) []string
	}{
		{"service removed", func(p *types.Project) { delete(p.Services, "voucher") }, checkComposeHasEveryService},
		{"health check removed", func(p *types.Project) { edit(p, "email", func(s *types.ServiceConfig) { s.HealthCheck = nil }) }, checkHealthChecks},
		{"health check with curl", func(p *types.Project) {
			edit(p, "web", func(s *types.ServiceConfig) {
				s.HealthCheck.Test = types.HealthCheckTest{"CMD", "curl", "-f", "http://localhost:8080/readyz"}
			})
		}, checkHealthChecks},
		{"memory limit removed", func(p *types.Project) {
			edit(p, "voucher", func(s *types.ServiceConfig) { s.Deploy.Resources.Limits = nil })
		}, checkComposeGoMemLimits},
		{"GOMEMLIMIT removed", func(p *types.Project) {
			edit(p, "email", func(s *types.ServiceConfig) { delete(s.Environment, "GOMEMLIMIT") })
		}, checkComposeGoMemLimits},
		{"memory limit raised, GOMEMLIMIT left", func(p *types.Project) {
			edit(p, "web", func(s *types.ServiceConfig) { s.Deploy.Resources.Limits.MemoryBytes *= 2 })
		}, checkComposeGoMemLimits},
		{"dependency on postgres removed", func(p *types.Project) {
			edit(p, "booking", func(s *types.ServiceConfig) { delete(s.DependsOn, "postgres") })
		}, checkDependencies},
		{"dependency only started", func(p *types.Project) {
			edit(p, "email", func(s *types.ServiceConfig) {
				s.DependsOn["mailpit"] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
			})
		}, checkDependencies},
		{"image latest", func(p *types.Project) {
			edit(p, "rabbitmq", func(s *types.ServiceConfig) { s.Image = "rabbitmq:latest" })
		}, checkComposeImages},
		{"image untagged", func(p *types.Project) { edit(p, "postgres", func(s *types.ServiceConfig) { s.Image = "postgres" }) }, checkComposeImages},
		{"variable removed", func(p *types.Project) {
			edit(p, "email", func(s *types.ServiceConfig) { delete(s.Environment, "SMTP_ADDR") })
		}, checkComposeEnvironment},
		{"classic queues", func(p *types.Project) {
			edit(p, "voucher", func(s *types.ServiceConfig) { s.Environment["AMQP_QUEUE_TYPE"] = ptr("classic") })
		}, checkComposeEnvironment},
		{"localhost inside a container", func(p *types.Project) {
			edit(p, "web", func(s *types.ServiceConfig) { s.Environment["BOOKING_URL"] = ptr("http://localhost:8081") })
		}, checkComposeEnvironment},
		{"wrong port in a URL", func(p *types.Project) {
			edit(p, "email", func(s *types.ServiceConfig) { s.Environment["VOUCHER_URL"] = ptr("http://voucher:8083") })
		}, checkComposeEnvironment},
		{"typo in a variable", func(p *types.Project) {
			edit(p, "booking", func(s *types.ServiceConfig) { s.Environment["BOOKNG_WORKERS"] = ptr("8") })
		}, checkComposeEnvironment},
		{"another service's database", func(p *types.Project) {
			edit(p, "voucher", func(s *types.ServiceConfig) {
				v := strings.Replace(*s.Environment["DATABASE_URL"], "staybook_voucher", "staybook_booking", 1)
				s.Environment["DATABASE_URL"] = &v
			})
		}, checkComposeEnvironment},
		{"wrong HTTP port", func(p *types.Project) {
			edit(p, "voucher", func(s *types.ServiceConfig) { s.Environment["HTTP_ADDR"] = ptr(":9000") })
		}, checkComposeEnvironment},
		{"internal API on every interface", func(p *types.Project) {
			edit(p, "voucher", func(s *types.ServiceConfig) { s.Ports[0].HostIP = "" })
		}, checkComposePorts},
		{"replicated service published", func(p *types.Project) {
			edit(p, "booking", func(s *types.ServiceConfig) {
				s.Ports = []types.ServicePortConfig{{Target: 8081, Published: "8081", HostIP: "127.0.0.1"}}
			})
		}, checkComposePorts},
		{"web published directly", func(p *types.Project) {
			edit(p, "loadbalancer", func(s *types.ServiceConfig) { s.Ports = nil })
			edit(p, "web", func(s *types.ServiceConfig) {
				s.Ports = []types.ServicePortConfig{{Target: 8080, Published: "8080"}}
			})
		}, checkLoadBalancer},
		{"one web replica", func(p *types.Project) {
			edit(p, "web", func(s *types.ServiceConfig) { one := 1; s.Deploy.Replicas = &one })
		}, checkLoadBalancer},
		{"no memory limit", func(p *types.Project) {
			edit(p, "notification", func(s *types.ServiceConfig) { s.Deploy.Resources.Limits = nil })
		}, checkLimitsAndRestarts},
		{"no restart policy", func(p *types.Project) { edit(p, "ntfy", func(s *types.ServiceConfig) { s.Restart = "" }) }, checkLimitsAndRestarts},
		{"short grace period", func(p *types.Project) {
			edit(p, "booking", func(s *types.ServiceConfig) { s.StopGracePeriod = nil })
		}, checkLimitsAndRestarts},
		{"too many booking consumers for the database", func(p *types.Project) {
			edit(p, "booking", func(s *types.ServiceConfig) { n := 8; s.Deploy.Replicas = &n })
		}, checkDatabaseBudget},
		{"booking workers above its pool", func(p *types.Project) {
			edit(p, "booking", func(s *types.ServiceConfig) { s.Environment["BOOKING_WORKERS"] = ptr("32") })
		}, checkDatabaseBudget},
		{"database not created", func(p *types.Project) {
			edit(p, "deadletters", func(s *types.ServiceConfig) {
				v := strings.Replace(*s.Environment["DATABASE_URL"], "staybook_deadletters", "staybook_dlq", 1)
				s.Environment["DATABASE_URL"] = &v
			})
		}, checkPostgresInit},
		{"mounted file renamed", func(p *types.Project) {
			edit(p, "jaeger", func(s *types.ServiceConfig) { s.Volumes[0].Source += ".renamed" })
		}, func(_ testing.TB, p *types.Project) []string { return checkMounts(p) }},
		{"service not scraped", func(p *types.Project) {
			edit(p, "prometheus", func(s *types.ServiceConfig) { s.Volumes[0].Source = noScrapes })
		}, checkObservability},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := loadCompose(t)
			if got := c.check(t, p); len(got) != 0 {
				t.Fatalf("the check fails on the real file already: %v", got)
			}
			c.breakIt(p)
			if got := c.check(t, p); len(got) == 0 {
				t.Error("the check did not notice")
			} else {
				t.Logf("caught: %s", got[0])
			}
		})
	}

	raw := readFile(t, filepath.Join(repoRoot(t), composeFile))
	if got := checkComposeSecrets(raw); len(got) != 0 {
		t.Fatalf("the secrets check fails on the real file already: %v", got)
	}
	for name, broken := range map[string]string{
		"secret with a default": strings.Replace(raw, "${ADMIN_TOKEN:?set ADMIN_TOKEN in .env (see .env.example)}", "${ADMIN_TOKEN:-dev-admin-token}", 1),
		"literal secret":        strings.Replace(raw, "NTFY_TOPIC_SECRET: ${NTFY_TOPIC_SECRET:?set NTFY_TOPIC_SECRET in .env (see .env.example)}", "NTFY_TOPIC_SECRET: not-so-secret", 1),
		"password in a URL":     strings.Replace(raw, "amqp://${RABBITMQ_USER}:${RABBITMQ_PASSWORD}@", "amqp://${RABBITMQ_USER}:guest@", 1),
		"never required":        strings.ReplaceAll(raw, "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD in .env (see .env.example)}", "${GRAFANA_ADMIN_PASSWORD}"),
	} {
		if broken == raw {
			t.Errorf("%s: the mutation did not apply; update the test", name)
			continue
		}
		if len(checkComposeSecrets(broken)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

func ptr(s string) *string { return &s }

func writeTemp(t testing.TB, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// Compose listens on this machine only unless the user says otherwise:
// with .env.example as it is, and with PUBLIC_BIND_ADDRESS left out, every
// published port of every service binds 127.0.0.1.
func TestCompose_EveryPortBindsLoopbackUnlessToldOtherwise(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	var without []string
	for _, line := range strings.Split(readFile(t, filepath.Join(root, ".env.example")), "\n") {
		if !strings.HasPrefix(line, "PUBLIC_BIND_ADDRESS=") {
			without = append(without, line)
		}
	}
	unset := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(unset, []byte(strings.Join(without, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]string{".env.example": filepath.Join(root, ".env.example"), "PUBLIC_BIND_ADDRESS unset": unset} {
		p, err := loadComposeWith(t, root, env)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		published := 0
		for _, svc := range sortedServiceNames(p) {
			for _, port := range p.Services[svc].Ports {
				if port.Published == "" {
					continue
				}
				published++
				if port.HostIP != "127.0.0.1" {
					t.Errorf("%s: %s publishes %s on %q, want 127.0.0.1", name, svc, port.Published, port.HostIP)
				}
			}
		}
		if published < 10 {
			t.Fatalf("%s: only %d published ports found", name, published)
		}
	}
}
