package deploytest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// --- dashboards: every query names a metric something serves -------------

// knownMetricsFile lists the metrics of the exporters and libraries the
// dashboards may use; the services' own are read from their code.
const knownMetricsFile = "deployments/grafana/metrics.txt"

var (
	// A metric named in full: Name: "staybook_bookings_total".
	metricLiteralRe = regexp.MustCompile(`"(staybook_[a-z0-9_]+)"`)
	// A metric named in parts: Namespace: "staybook", Subsystem: "email", Name: "emails_sent_total".
	metricPartsRe = regexp.MustCompile(`Namespace:\s*"staybook",\s*Subsystem:\s*"([a-z0-9_]+)",\s*Name:\s*"([a-z0-9_]+)"`)
)

// serviceMetricNames are the metrics the Staybook services register, read
// from the code of shared/ and services/.
func serviceMetricNames(t testing.TB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	root := repoRoot(t)
	for _, dir := range []string{"shared", "services"} {
		for _, f := range goFiles(t, filepath.Join(root, dir)) {
			src := readFile(t, f)
			for _, m := range metricLiteralRe.FindAllStringSubmatch(src, -1) {
				out[m[1]] = true
			}
			for _, m := range metricPartsRe.FindAllStringSubmatch(src, -1) {
				out["staybook_"+m[1]+"_"+m[2]] = true
			}
		}
	}
	return out
}

// knownMetricNames are every metric a dashboard may name.
func knownMetricNames(t testing.TB) map[string]bool {
	t.Helper()
	out := serviceMetricNames(t)
	for _, line := range strings.Split(readFile(t, filepath.Join(repoRoot(t), knownMetricsFile)), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out[line] = true
		}
	}
	return out
}

var (
	promqlStringRe   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchersRe = regexp.MustCompile(`\{[^}]*\}`)
	promqlRangeRe    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGroupingRe = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdentRe    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords   = map[string]bool{"and": true, "or": true, "unless": true, "offset": true, "bool": true, "inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
)

// promqlMetricNames picks the metric names out of a PromQL expression: the
// identifiers that are not a function (followed by "("), a keyword, a label
// name (inside {} or a grouping) or a duration.
func promqlMetricNames(expr string) []string {
	expr = promqlStringRe.ReplaceAllString(expr, `""`)
	expr = promqlMatchersRe.ReplaceAllString(expr, " ")
	expr = promqlRangeRe.ReplaceAllString(expr, " ")
	expr = promqlGroupingRe.ReplaceAllString(expr, " ")
	var out []string
	for _, loc := range promqlIdentRe.FindAllStringIndex(expr, -1) {
		name := expr[loc[0]:loc[1]]
		if loc[0] > 0 && (expr[loc[0]-1] >= '0' && expr[loc[0]-1] <= '9' || expr[loc[0]-1] == '.') {
			continue // the unit of a number (1e3) or a duration
		}
		if rest := strings.TrimLeft(expr[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") || promqlKeywords[strings.ToLower(name)] {
			continue
		}
		out = append(out, name)
	}
	return out
}

// known reports whether name is a known metric, a histogram's series
// (_bucket, _sum, _count) included.
func known(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && names[base] {
			return true
		}
	}
	return false
}

type dashboard struct {
	UID   string `json:"uid"`
	Title string `json:"title"`
	Links []struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"links"`
	Panels []struct {
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource *struct {
				Type string `json:"type"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboards(t testing.TB) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deployments", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	out := map[string]dashboard{}
	for _, f := range files {
		var d dashboard
		if err := json.Unmarshal([]byte(readFile(t, f)), &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

// checkDashboardMetrics: every Prometheus query of every dashboard names
// only metrics that the services or the exporters serve.
func checkDashboardMetrics(dashboards map[string]dashboard, names map[string]bool) []string {
	var out []string
	for file, d := range dashboards {
		for _, p := range d.Panels {
			for _, target := range p.Targets {
				typ := p.Datasource.Type
				if target.Datasource != nil && target.Datasource.Type != "" {
					typ = target.Datasource.Type
				}
				if typ != "prometheus" {
					continue
				}
				metrics := promqlMetricNames(target.Expr)
				if len(metrics) == 0 {
					out = append(out, fmt.Sprintf("%s, panel %q: query %q names no metric", file, p.Title, target.Expr))
				}
				for _, m := range metrics {
					if !known(names, m) {
						out = append(out, fmt.Sprintf("%s, panel %q: %s is served by no service and is not in %s", file, p.Title, m, knownMetricsFile))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestDashboards_QueryOnlyMetricsTheServicesOrExportersServe(t *testing.T) {
	t.Parallel()
	dashboards := loadDashboards(t)
	report(t, checkDashboardMetrics(dashboards, knownMetricNames(t)))
	for _, want := range []string{"staybook.json", "rabbitmq.json", "postgres.json"} {
		if _, ok := dashboards[want]; !ok {
			t.Errorf("no dashboard %s", want)
		}
	}
	// The Staybook dashboard leads to the traces: links to Jaeger searches
	// and a panel on the Jaeger datasource.
	d := dashboards["staybook.json"]
	jaegerLinks := 0
	for _, l := range d.Links {
		if strings.Contains(l.URL, "staybook-jaeger") {
			jaegerLinks++
		}
	}
	jaegerPanels := 0
	for _, p := range d.Panels {
		if p.Datasource.Type == "jaeger" {
			jaegerPanels++
		}
	}
	if jaegerLinks == 0 || jaegerPanels == 0 {
		t.Errorf("staybook.json: %d links to Jaeger, %d Jaeger panels; want both", jaegerLinks, jaegerPanels)
	}
}

func TestPromqlMetricNames_FindsMetricsNotFunctionsOrLabels(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`histogram_quantile(0.95, sum by (le, handler_name) (rate(staybook_handler_execution_time_seconds_bucket[1m])))`:                     {"staybook_handler_execution_time_seconds_bucket"},
		`sum by (datname) (pg_stat_database_numbackends{datname=~"staybook_.*"}) / on(instance) group_left max(pg_settings_max_connections)`: {"pg_stat_database_numbackends", "pg_settings_max_connections"},
		`max(staybook_outbox_lag_seconds) > 1e3 offset 5m`:                                                                                   {"staybook_outbox_lag_seconds"},
		`up`: {"up"},
	} {
		if got := promqlMetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", expr, got, want)
		}
	}
}

func TestDashboardChecks_CatchAnUnknownMetric(t *testing.T) {
	t.Parallel()
	dashboards := loadDashboards(t)
	names := knownMetricNames(t)
	if got := checkDashboardMetrics(dashboards, names); len(got) != 0 {
		t.Fatalf("the check fails on the real dashboards already: %v", got)
	}
	d := dashboards["rabbitmq.json"]
	d.Panels[0].Targets[0].Expr = "sum(rabbitmq_queue_depth)" // not a metric of rabbitmq_prometheus
	dashboards["rabbitmq.json"] = d
	if got := checkDashboardMetrics(dashboards, names); len(got) != 1 || !strings.Contains(got[0], "rabbitmq_queue_depth") {
		t.Errorf("an unknown metric was not caught: %v", got)
	}
	// And the services' metrics really are read from their code.
	for _, m := range []string{"staybook_bookings_total", "staybook_email_emails_sent_total", "staybook_http_requests_total"} {
		if !names[m] {
			t.Errorf("%s is not among the services' metrics found in their code", m)
		}
	}
}

// --- the exporters: enabled and scraped ------------------------------------

func TestCompose_ExportersAreEnabledAndScraped(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	root := repoRoot(t)
	plugins := ""
	for _, v := range p.Services["rabbitmq"].Volumes {
		if v.Target == "/etc/rabbitmq/enabled_plugins" {
			plugins = readFile(t, v.Source)
		}
	}
	if !strings.Contains(plugins, "rabbitmq_prometheus") || !strings.Contains(plugins, "rabbitmq_management") {
		t.Errorf("rabbitmq: enabled_plugins %q lacks rabbitmq_prometheus or rabbitmq_management", plugins)
	}
	if _, ok := p.Services["postgres-exporter"]; !ok {
		t.Error("no postgres-exporter service")
	}
	prom := readFile(t, filepath.Join(root, "deployments", "prometheus", "prometheus.yml"))
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string              `json:"job_name"`
			MetricsPath   string              `json:"metrics_path"`
			Params        map[string][]string `json:"params"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(prom), &cfg); err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				path := cmpOr(sc.MetricsPath, "/metrics")
				if fam := sc.Params["family"]; len(fam) > 0 {
					path += "?family=" + strings.Join(fam, ",")
				}
				scraped[target+path] = true
			}
		}
	}
	for _, want := range []string{"rabbitmq:15692/metrics", "rabbitmq:15692/metrics/detailed?family=queue_coarse_metrics,queue_consumer_count", "postgres-exporter:9187/metrics"} {
		if !scraped[want] {
			t.Errorf("prometheus.yml does not scrape %s (scrapes %v)", want, scraped)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// --- Jaeger: the trace cap fits the memory ----------------------------------

// Jaeger's in-memory store, measured with the Jaeger build `make dev` uses
// (docs/results/benchmarks.md, "Jaeger through a load run"): 1,996 settled
// bookings held 269 MB of live heap (GODEBUG=gctrace=1) as they arrived at
// 100/s, 135 KB per booking's trace of 71 spans (77 KB at rest after a
// run: the larger is used); compose's three web replicas add 8 consumer
// spans to each, hence 150 KB. At rest the process is 54 MB resident.
const (
	jaegerBytesPerTrace = 150_000
	jaegerBaseBytes     = 54 << 20
)

// checkJaegerMemory: the traces Jaeger keeps (max_traces of them) fit under
// GOMEMLIMIT, and GOMEMLIMIT leaves the Go runtime room under the limit.
func checkJaegerMemory(where string, maxTraces int, goMemLimit, limit int64) []string {
	var out []string
	need := jaegerBaseBytes + int64(maxTraces)*jaegerBytesPerTrace
	switch {
	case maxTraces <= 0:
		out = append(out, where+": no max_traces: the in-memory store grows until the process is killed")
	case goMemLimit <= 0:
		out = append(out, where+": no GOMEMLIMIT: the heap may grow to twice the traces before a collection")
	case need > goMemLimit:
		out = append(out, fmt.Sprintf("%s: %d traces x %d bytes + %d MiB at rest = %d MiB, above GOMEMLIMIT %d MiB",
			where, maxTraces, jaegerBytesPerTrace, jaegerBaseBytes>>20, need>>20, goMemLimit>>20))
	}
	if goMemLimit > limit*9/10 {
		out = append(out, fmt.Sprintf("%s: GOMEMLIMIT %d MiB leaves under 10%% of the memory limit %d MiB for the rest of the process", where, goMemLimit>>20, limit>>20))
	}
	return out
}

var goMemLimitRe = regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB)?$`)

func parseGoMemLimit(s string) int64 {
	m := goMemLimitRe.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n << map[string]int{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
}

func jaegerMaxTraces(t testing.TB, path string) int {
	t.Helper()
	var cfg struct {
		Extensions struct {
			JaegerStorage struct {
				Backends map[string]struct {
					Memory struct {
						MaxTraces int `json:"max_traces"`
					} `json:"memory"`
				} `json:"backends"`
			} `json:"jaeger_storage"`
		} `json:"extensions"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, b := range cfg.Extensions.JaegerStorage.Backends {
		return b.Memory.MaxTraces
	}
	return 0
}

func TestJaeger_TraceCapFitsTheMemoryLimit(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	p := loadCompose(t)
	j := p.Services["jaeger"]
	var source string
	for _, v := range j.Volumes {
		if v.Target == "/etc/jaeger/config.yaml" {
			source = v.Source
		}
	}
	gml, _ := envValue(j, "GOMEMLIMIT")
	var limit int64
	if j.Deploy != nil && j.Deploy.Resources.Limits != nil {
		limit = int64(j.Deploy.Resources.Limits.MemoryBytes)
	}
	report(t, checkJaegerMemory("docker-compose.yml jaeger", jaegerMaxTraces(t, source), parseGoMemLimit(gml), limit))

	base, _ := kustomizations(t)
	d, ok := build(t, base).Deployments["jaeger"]
	if !ok {
		t.Fatal("no jaeger Deployment in the Kubernetes base")
	}
	c := d.Spec.Template.Spec.Containers[0]
	var kgml string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			kgml = e.Value
		}
	}
	report(t, checkJaegerMemory("Kubernetes jaeger", jaegerMaxTraces(t, filepath.Join(root, k8sDir, "base", "jaeger", "config.yaml")),
		parseGoMemLimit(kgml), c.Resources.Limits.Memory().Value()))
}

func TestJaegerMemoryCheck_CatchesACapTooLargeForItsLimit(t *testing.T) {
	t.Parallel()
	if got := checkJaegerMemory("x", 5000, 800<<20, 1<<30); len(got) != 0 {
		t.Fatalf("the shipped figures fail: %v", got)
	}
	for name, c := range map[string]struct {
		traces     int
		gml, limit int64
	}{
		"the cap of the past (20,000 in 512 MB)":  {20000, 400 << 20, 512 << 20},
		"the cap before the measurement (15,000)": {15000, 800 << 20, 1 << 30},
		"no GOMEMLIMIT":           {5000, 0, 1 << 30},
		"GOMEMLIMIT at the limit": {5000, 1 << 30, 1 << 30},
		"no cap":                  {0, 800 << 20, 1 << 30},
	} {
		if got := checkJaegerMemory(name, c.traces, c.gml, c.limit); len(got) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

// --- the load test under compose --------------------------------------------

var runFlagRe = regexp.MustCompile(`fs\.(?:String|Float64|Duration|Uint64|Int|Bool)(?:Var)?\((?:&[a-zA-Z.]+,\s*)?"([a-z-]+)"`)

// loadtestFlags are the flags of the load test's commands (loadtest/main.go).
func loadtestFlags(t testing.TB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range runFlagRe.FindAllStringSubmatch(readFile(t, filepath.Join(repoRoot(t), "loadtest", "main.go")), -1) {
		out[m[1]] = true
	}
	return out
}

func checkLoadtestProfile(t testing.TB, p *types.Project) []string {
	var out []string
	s, ok := p.Services["loadtest"]
	if !ok {
		return []string{"no compose service loadtest"}
	}
	if !slices.Contains(s.Profiles, "loadtest") || !isJob(s) {
		out = append(out, `loadtest: want profiles [loadtest] and restart "no" (a job run by make loadtest-compose)`)
	}
	if s.Build == nil || s.Build.Args["SERVICE"] == nil || *s.Build.Args["SERVICE"] != loadtestImage {
		out = append(out, "loadtest: not built from the Dockerfile with SERVICE=loadtest")
	}
	flags := loadtestFlags(t)
	for name := range s.Environment {
		flag, ok := strings.CutPrefix(name, "LOADTEST_")
		if !ok {
			continue
		}
		if flag = strings.ToLower(strings.ReplaceAll(flag, "_", "-")); !flags[flag] {
			out = append(out, fmt.Sprintf("loadtest: %s sets no flag of the load test (-%s)", name, flag))
		}
	}
	want := map[string]string{
		"LOADTEST_TARGET": "loadbalancer:8080", "LOADTEST_PROMETHEUS_URL": "prometheus:9090",
		"LOADTEST_BOOKING_URL": "booking:8081", "LOADTEST_MAILPIT_URL": "mailpit:8025",
	}
	for name, addr := range want {
		v, _ := envValue(s, name)
		if host, port, _ := splitAddress(v); fmt.Sprintf("%s:%d", host, port) != addr {
			out = append(out, fmt.Sprintf("loadtest: %s=%q, want a URL of %s", name, v, addr))
		}
	}
	// The broker and the database with the services' own credentials.
	amqpURL, _ := envValue(s, "LOADTEST_AMQP_URL")
	if services, _ := envValue(p.Services["booking"], "AMQP_URL"); amqpURL != services {
		out = append(out, fmt.Sprintf("loadtest: LOADTEST_AMQP_URL %q is not the services' AMQP_URL %q", amqpURL, services))
	}
	dbURL, _ := envValue(s, "LOADTEST_BOOKING_DB_URL")
	if services, _ := envValue(p.Services["booking"], "DATABASE_URL"); dbURL != services {
		out = append(out, fmt.Sprintf("loadtest: LOADTEST_BOOKING_DB_URL %q is not the booking service's DATABASE_URL", dbURL))
	}
	if !slices.Contains(p.Services["prometheus"].Profiles, "loadtest") {
		out = append(out, "prometheus is not in the profile loadtest: the per-service figures would not be measured")
	}
	for _, dep := range []string{"loadbalancer", "prometheus"} {
		if d, ok := s.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
			out = append(out, "loadtest: does not wait for "+dep+" to be healthy")
		}
	}
	mounted := false
	for _, v := range s.Volumes {
		rel, _ := filepath.Rel(repoRoot(t), v.Source)
		mounted = mounted || rel == filepath.Join("loadtest", "out") && v.Target == s.WorkingDir+"/out" && !v.ReadOnly
	}
	if !mounted {
		out = append(out, "loadtest: ./loadtest/out is not mounted writable on <working_dir>/out, where the report is written")
	}
	return out
}

func TestCompose_LoadtestProfileRunsTheLoadTestAgainstTheStack(t *testing.T) {
	t.Parallel()
	report(t, checkLoadtestProfile(t, loadCompose(t)))
	mk := readFile(t, filepath.Join(repoRoot(t), "Makefile"))
	for _, want := range []string{"loadtest-compose:", "--profile loadtest run --rm --build loadtest", "mkdir -p loadtest/out", "LOADTEST_UID=$$(id -u)"} {
		if !strings.Contains(mk, want) {
			t.Errorf("Makefile lacks %q", want)
		}
	}
}

func TestLoadtestProfileCheck_CatchesCommonMistakes(t *testing.T) {
	t.Parallel()
	for name, breakIt := range map[string]func(*types.Project){
		"a variable for no flag": func(p *types.Project) { p.Services["loadtest"].Environment["LOADTEST_TARGETS"] = ptr("x") },
		"guest credentials": func(p *types.Project) {
			p.Services["loadtest"].Environment["LOADTEST_AMQP_URL"] = ptr("amqp://guest:guest@rabbitmq:5672/")
		},
		"through the host": func(p *types.Project) {
			p.Services["loadtest"].Environment["LOADTEST_TARGET"] = ptr("http://localhost:8080")
		},
		"no prometheus": func(p *types.Project) {
			s := p.Services["prometheus"]
			s.Profiles = []string{"observability"}
			p.Services["prometheus"] = s
		},
	} {
		p := loadCompose(t)
		if got := checkLoadtestProfile(t, p); len(got) != 0 {
			t.Fatalf("the check fails on the real file already: %v", got)
		}
		breakIt(p)
		if got := checkLoadtestProfile(t, p); len(got) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	if _, err := os.Stat(filepath.Join(repoRoot(t), "loadtest", "main.go")); err != nil {
		t.Fatal(err)
	}
}
