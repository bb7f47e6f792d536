package deploytest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
)

// contractPorts are the services' HTTP ports (docs/architecture.md,
// "Services" and "Running"). TestContractPorts_MatchTheArchitectureDocument
// keeps this table and the document together.
var contractPorts = map[string]int{
	"web": 8080, "booking": 8081, "voucher": 8082, "email": 8083, "notification": 8084, "deadletters": 8085,
}

// repoRoot is the repository root: this module's parent directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root %s has no go.work: %v", root, err)
	}
	return root
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serviceDirs lists the directories of services/, sorted: each is one
// Staybook service, its module, its binary and its image.
func serviceDirs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "services"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("services/ has no service directory")
	}
	slices.Sort(out)
	return out
}

func isStaybookService(t testing.TB, name string) bool {
	return slices.Contains(serviceDirs(t), name)
}

// goFiles lists the non-test Go files under dir.
func goFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// envVar is one environment variable a service reads, from an `env:"..."`
// struct tag of its configuration.
type envVar struct {
	Name string
	// Defaults are the source texts that give the field a value before the
	// environment is read: the envDefault tag, composite-literal fields and
	// assignments in the same file (DefaultConfig, Common.Defaults).
	Defaults []string
}

// localDefault reports whether a default points at this machine, which
// inside a container or a pod is the container itself: such a variable must
// be set there.
func (v envVar) localDefault() bool {
	for _, d := range v.Defaults {
		if strings.Contains(d, "localhost") || strings.Contains(d, "127.0.0.1") {
			return true
		}
	}
	return false
}

// defaultValue is the default as a literal, if it is one.
func (v envVar) defaultValue() (string, bool) {
	for _, d := range v.Defaults {
		if s, err := strconv.Unquote(d); err == nil {
			return s, true
		}
		if _, err := strconv.Atoi(d); err == nil {
			return d, true
		}
	}
	return "", false
}

var (
	envTagRe        = regexp.MustCompile(`env:"([^",]*)[^"]*"`)
	envDefaultTagRe = regexp.MustCompile(`envDefault:"([^"]*)"`)
	getenvRe        = regexp.MustCompile(`(?:Getenv|LookupEnv)\("([A-Z][A-Z0-9_]*)"\)`)
)

// configVariables parses the Go files given and returns the variables their
// structs read, with their defaults.
func configVariables(t testing.TB, files ...string) map[string]envVar {
	t.Helper()
	out := map[string]envVar{}
	for _, file := range files {
		src := readFile(t, file)
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		text := func(n ast.Node) string { return src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset] }
		fields := map[string]string{} // Go field name -> variable
		ast.Inspect(f, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				if fld.Tag == nil {
					continue
				}
				tag, _ := strconv.Unquote(fld.Tag.Value)
				m := envTagRe.FindStringSubmatch(tag)
				if m == nil || m[1] == "" || m[1] == "-" {
					continue
				}
				v := out[m[1]]
				v.Name = m[1]
				if d := envDefaultTagRe.FindStringSubmatch(tag); d != nil {
					v.Defaults = append(v.Defaults, strconv.Quote(d[1]))
				}
				out[m[1]] = v
				for _, name := range fld.Names {
					fields[name.Name] = m[1]
				}
			}
			return true
		})
		record := func(field string, value ast.Expr) {
			if name, ok := fields[field]; ok {
				v := out[name]
				v.Defaults = append(v.Defaults, text(value))
				out[name] = v
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok {
					record(id.Name, n.Value)
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && i < len(n.Rhs) {
						record(sel.Sel.Name, n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	return out
}

// serviceConfig is what a service reads from its environment.
type serviceConfig struct {
	Name string
	// Variables are the env-tagged fields of config.Common and of the
	// service's config.go (its main package).
	Variables map[string]envVar
	// Getenv are the variables read with os.Getenv in the service and in
	// shared (telemetry, faults, the dlq CLI).
	Getenv []string
	// UsesDatabase: the service opens a database of its own (shared/postgres, servicekit's OpenDatabase).
	UsesDatabase bool
}

var (
	serviceConfigsOnce sync.Once
	serviceConfigs     map[string]serviceConfig
)

// loadServiceConfigs parses every service's configuration once.
func loadServiceConfigs(t testing.TB) map[string]serviceConfig {
	t.Helper()
	serviceConfigsOnce.Do(func() {
		root := repoRoot(t)
		common := filepath.Join(root, "shared", "config", "config.go")
		var sharedGetenv []string
		for _, f := range goFiles(t, filepath.Join(root, "shared")) {
			for _, m := range getenvRe.FindAllStringSubmatch(readFile(t, f), -1) {
				sharedGetenv = append(sharedGetenv, m[1])
			}
		}
		out := map[string]serviceConfig{}
		for _, svc := range serviceDirs(t) {
			// A service's configuration is its main package's config.go.
			cfgFile := filepath.Join(root, "services", svc, "config.go")
			if _, err := os.Stat(cfgFile); err != nil { // not yet moved onto servicekit
				cfgFile = filepath.Join(root, "services", svc, "internal", "service", "config.go")
			}
			if _, err := os.Stat(cfgFile); err != nil {
				t.Fatalf("service %s: %v: the deployment checks derive its variables from that file", svc, err)
			}
			sc := serviceConfig{Name: svc, Variables: configVariables(t, common, cfgFile), Getenv: slices.Clone(sharedGetenv)}
			for _, f := range goFiles(t, filepath.Join(root, "services", svc)) {
				src := readFile(t, f)
				if strings.Contains(src, `"github.com/staybook/staybook/shared/postgres"`) || strings.Contains(src, ".OpenDatabase(") {
					sc.UsesDatabase = true
				}
				for _, m := range getenvRe.FindAllStringSubmatch(src, -1) {
					sc.Getenv = append(sc.Getenv, m[1])
				}
			}
			out[svc] = sc
		}
		serviceConfigs = out
	})
	if serviceConfigs == nil {
		t.Fatal("service configurations could not be read (see the first failure)")
	}
	return serviceConfigs
}

// contractVariables are variables a service must get in every deployment
// whatever its code's defaults: the contract's choices for containers.
var contractVariables = map[string][]string{
	"*":            {"AMQP_URL", "AMQP_QUEUE_TYPE", "OTEL_EXPORTER_OTLP_ENDPOINT"},
	"web":          {"BOOKING_ID_SECRET", "ADMIN_TOKEN", "DEADLETTERS_URL", "JAEGER_QUERY_URL", "JAEGER_UI_URL"},
	"booking":      {"DATABASE_URL"},
	"voucher":      {"DATABASE_URL"},
	"email":        {"DATABASE_URL", "SMTP_ADDR"},
	"notification": {"NTFY_URL", "NTFY_TOPIC_SECRET"},
	"deadletters":  {"DATABASE_URL", "ADMIN_TOKEN"},
}

// optionalSecrets are secret-like variables that may stay unset.
var optionalSecrets = map[string]string{
	"NTFY_TOKEN":    "ntfy access token: the bundled ntfy has no access control",
	"SMTP_PASSWORD": "SMTP AUTH: Mailpit accepts mail without it",
	// Compose sets it (a load test through nginx works by default); a
	// Kubernetes operator adds it to staybook-secrets to load-test.
	"LOADTEST_TOKEN": "the load generator's allowance: without it a load test is rate-limited like any client",
}

var secretNameRe = regexp.MustCompile(`(^|_)(SECRET|TOKEN|PASSWORD|PASS)$`)

// requiredVariables returns the variables a service must have set in a
// container, with the reason for each.
func requiredVariables(t testing.TB, svc string) map[string]string {
	t.Helper()
	sc, ok := loadServiceConfigs(t)[svc]
	if !ok {
		t.Fatalf("no service %s in services/", svc)
	}
	out := map[string]string{}
	for name, v := range sc.Variables {
		switch {
		case name == "DATABASE_URL" && !sc.UsesDatabase:
		case v.localDefault():
			out[name] = "its default points at localhost: " + strings.Join(v.Defaults, ", ")
		case secretNameRe.MatchString(name) && optionalSecrets[name] == "":
			out[name] = "a secret the service reads (a default is a development value or nothing)"
		}
	}
	for _, key := range []string{"*", svc} {
		for _, name := range contractVariables[key] {
			if _, ok := out[name]; !ok {
				out[name] = "the contract sets it for containers"
			}
		}
	}
	return out
}

// knownVariable reports whether some Staybook code reads the variable, so
// that a typo in a deployment file (BOOKNG_WORKERS) is caught.
func knownVariable(t testing.TB, name string) bool {
	t.Helper()
	for _, sc := range loadServiceConfigs(t) {
		if _, ok := sc.Variables[name]; ok || slices.Contains(sc.Getenv, name) {
			return true
		}
	}
	switch {
	case strings.HasPrefix(name, "OTEL_"): // the OpenTelemetry SDK's own
		return true
	case slices.Contains([]string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "TZ"}, name): // the Go runtime's
		return true
	}
	// Retry policies: <HANDLER>_MAX_ATTEMPTS and the like (shared/messaging/policy.go).
	for _, suffix := range []string{"_MAX_ATTEMPTS", "_INITIAL_INTERVAL", "_MULTIPLIER", "_MAX_INTERVAL",
		"_RANDOMIZATION_FACTOR", "_MAX_ELAPSED", "_TIMEOUT", "_ON_EXHAUSTED"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// publicURLVariables are URLs that people's browsers and apps follow, not
// the services: they point at the host's published ports, never at a
// container name.
var publicURLVariables = []string{"NTFY_PUBLIC_URL", "NTFY_CLICK_BASE_URL", "JAEGER_UI_URL"}

// isServerAddressVariable reports whether a variable holds an address the
// service itself connects to (a URL, host:port or an endpoint).
func isServerAddressVariable(name string) bool {
	if slices.Contains(publicURLVariables, name) || name == "HTTP_ADDR" || name == "METRICS_ADDR" || name == "INTERNAL_ADDR" {
		return false
	}
	return strings.HasSuffix(name, "_URL") || strings.HasSuffix(name, "_ADDR") || strings.HasSuffix(name, "_ENDPOINT")
}

// splitAddress returns the host and port of a URL or host:port value.
func splitAddress(value string) (host string, port int, ok bool) {
	scheme := ""
	if i := strings.Index(value, "://"); i >= 0 {
		scheme, value = value[:i], value[i+3:]
	}
	if i := strings.LastIndex(value, "@"); i >= 0 {
		value = value[i+1:]
	}
	if i := strings.IndexAny(value, "/?#"); i >= 0 {
		value = value[:i]
	}
	host, portText, found := strings.Cut(value, ":")
	if !found {
		switch scheme {
		case "http":
			return host, 80, host != ""
		case "https":
			return host, 443, host != ""
		case "amqp":
			return host, 5672, host != ""
		case "postgres", "postgresql":
			return host, 5432, host != ""
		}
		return host, 0, false
	}
	p, err := strconv.Atoi(portText)
	return host, p, err == nil && host != ""
}

// databaseName is the database a postgres:// URL names.
func databaseName(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	_, path, _ := strings.Cut(rest, "/")
	name, _, _ := strings.Cut(path, "?")
	return name
}

// listenPort is the port of a listen address such as ":8081".
func listenPort(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

func TestMain(m *testing.M) {
	// compose-go warns through logrus about variables that are not set;
	// TestCompose_RefusesToLoadWithoutTheSecrets leaves them unset on purpose.
	logrus.SetLevel(logrus.ErrorLevel)
	os.Exit(m.Run())
}

func TestEveryServiceDirectoryHasAMainPackage(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	for _, svc := range serviceDirs(t) {
		if _, err := os.Stat(filepath.Join(root, "services", svc, "main.go")); err != nil {
			t.Errorf("services/%s has no main.go: the Dockerfile builds ./services/$SERVICE: %v", svc, err)
		}
	}
}

func TestContractPorts_MatchTheArchitectureDocument(t *testing.T) {
	t.Parallel()
	doc := readFile(t, filepath.Join(repoRoot(t), "docs", "architecture.md"))
	// The Services table: | web | owns | consumes | publishes | 8080 |
	row := regexp.MustCompile(`(?m)^\|\s*([a-z]+)\s*\|.*\|\s*(\d{4,5})\s*\|\s*$`)
	found := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		p, _ := strconv.Atoi(m[2])
		found[m[1]] = p
	}
	for svc, port := range contractPorts {
		if found[svc] != port {
			t.Errorf("docs/architecture.md gives %s port %d, the tests %d", svc, found[svc], port)
		}
	}
	for _, svc := range serviceDirs(t) {
		if _, ok := contractPorts[svc]; !ok {
			t.Errorf("service %s has no port in the tests' contract table (contractPorts)", svc)
		}
	}
}

func TestRequiredVariables_AreDerivedFromTheServicesCode(t *testing.T) {
	t.Parallel()
	// The derivation itself: if it found nothing, every check built on it
	// would pass vacuously.
	for svc, want := range map[string][]string{
		"booking": {"AMQP_URL", "DATABASE_URL", "VOUCHER_URL", "EMAIL_URL", "NOTIFICATION_URL"},
		"web":     {"AMQP_URL", "BOOKING_URL", "VOUCHER_URL", "BOOKING_ID_SECRET"},
		"email":   {"AMQP_URL", "DATABASE_URL", "SMTP_ADDR", "VOUCHER_URL"},
	} {
		got := requiredVariables(t, svc)
		for _, name := range want {
			if _, ok := got[name]; !ok {
				t.Errorf("%s: %s not among the required variables %v", svc, name, got)
			}
		}
	}
	for svc, sc := range loadServiceConfigs(t) {
		if want := slices.Contains([]string{"booking", "voucher", "email", "deadletters"}, svc); sc.UsesDatabase != want {
			t.Errorf("%s: uses a database = %v, want %v", svc, sc.UsesDatabase, want)
		}
	}
	if _, ok := requiredVariables(t, "notification")["DATABASE_URL"]; ok {
		t.Error("notification has no database, yet DATABASE_URL is required")
	}
	if !knownVariable(t, "BOOKING_WORKERS") || knownVariable(t, "BOOKNG_WORKERS") {
		t.Error("knownVariable does not tell a variable the code reads from a typo")
	}
}
