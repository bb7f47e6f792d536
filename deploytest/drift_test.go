package deploytest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The list of services lives in several places: the directories of
// services/ (the truth), go.work, the Makefile, system/stack (make dev and
// the end-to-end tests), docker-compose.yml, the Kubernetes manifests and
// the Prometheus configuration. A service added to one and forgotten in
// another would silently not be built, run, deployed or scraped; these tests
// compare them.

// goWorkServices are the services/* entries of go.work's use directives.
func goWorkServices(src string) []string {
	var out []string
	inUse := false
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case strings.HasPrefix(line, "use ("):
			inUse = true
			continue
		case inUse && line == ")":
			inUse = false
			continue
		case strings.HasPrefix(line, "use "):
			line = strings.TrimSpace(strings.TrimPrefix(line, "use "))
		case !inUse:
			continue
		}
		line = strings.TrimPrefix(strings.Trim(line, `"`), "./")
		if name, ok := strings.CutPrefix(line, "services/"); ok && name != "" && !strings.Contains(name, "/") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

var makefileServiceRe = regexp.MustCompile(`services/([a-z][a-z0-9_-]*)`)

// makefileServices: the services the Makefile builds. It derives them from
// the directories ($(wildcard services/*)) or names them.
func makefileServices(src string, dirs []string) []string {
	if strings.Contains(src, "$(wildcard services/*)") {
		return slices.Clone(dirs)
	}
	var out []string
	for _, m := range makefileServiceRe.FindAllStringSubmatch(src, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// stackVariables parses system/stack/stack.go: its Services list,
// DefaultPorts and URLVariables.
func stackVariables(t testing.TB) (services []string, ports map[string]int, urlVars map[string]string) {
	t.Helper()
	file := filepath.Join(repoRoot(t), "system", "stack", "stack.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, readFile(t, file), parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	ports, urlVars = map[string]int{}, map[string]string{}
	str := func(e ast.Expr) string {
		if lit, ok := e.(*ast.BasicLit); ok {
			s, _ := strconv.Unquote(lit.Value)
			if lit.Kind == token.INT {
				return lit.Value
			}
			return s
		}
		return ""
	}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.CompositeLit)
				if !ok {
					continue
				}
				for _, elt := range lit.Elts {
					switch name.Name {
					case "Services":
						services = append(services, str(elt))
					case "DefaultPorts":
						kv := elt.(*ast.KeyValueExpr)
						ports[str(kv.Key)], _ = strconv.Atoi(str(kv.Value))
					case "URLVariables":
						kv := elt.(*ast.KeyValueExpr)
						urlVars[str(kv.Key)] = str(kv.Value)
					}
				}
			}
		}
	}
	if len(services) == 0 || len(ports) == 0 {
		t.Fatalf("%s: no Services or DefaultPorts found; the test parses their composite literals", file)
	}
	return services, ports, urlVars
}

// checkServiceLists compares every list with the directories of services/.
func checkServiceLists(dirs []string, lists map[string][]string) []string {
	var out []string
	for _, source := range sortedKeys(lists) {
		got := slices.Clone(lists[source])
		sort.Strings(got)
		for _, d := range dirs {
			if !slices.Contains(got, d) {
				out = append(out, fmt.Sprintf("%s lacks the service %s (services/%s exists)", source, d, d))
			}
		}
		for _, g := range got {
			if !slices.Contains(dirs, g) {
				out = append(out, fmt.Sprintf("%s has a service %s, but services/%s does not exist", source, g, g))
			}
		}
		if len(slices.Compact(slices.Clone(got))) != len(got) {
			out = append(out, fmt.Sprintf("%s lists a service twice: %v", source, got))
		}
	}
	return out
}

// collectServiceLists gathers the service list of every place that has one.
func collectServiceLists(t testing.TB) map[string][]string {
	t.Helper()
	root := repoRoot(t)
	dirs := serviceDirs(t)
	stackServices, _, _ := stackVariables(t)
	lists := map[string][]string{
		"go.work":                  goWorkServices(readFile(t, filepath.Join(root, "go.work"))),
		"Makefile":                 makefileServices(readFile(t, filepath.Join(root, "Makefile")), dirs),
		"system/stack (Services)":  stackServices,
		composeFile + " (builds)":  nil,
		"prometheus.yml (scrapes)": nil,
		"docs/architecture.md":     nil,
		k8sDir + "/base (images)":  nil,
	}
	p := loadCompose(t)
	for _, name := range sortedServiceNames(p) {
		if b := p.Services[name].Build; b != nil && b.Args["SERVICE"] != nil && *b.Args["SERVICE"] != loadtestImage {
			lists[composeFile+" (builds)"] = append(lists[composeFile+" (builds)"], *b.Args["SERVICE"])
		}
	}
	for _, v := range p.Services["prometheus"].Volumes {
		if v.Target == "/etc/prometheus/prometheus.yml" {
			for _, m := range regexp.MustCompile(`names:\s*\[([a-z0-9_-]+)\]`).FindAllStringSubmatch(readFile(t, v.Source), -1) {
				lists["prometheus.yml (scrapes)"] = append(lists["prometheus.yml (scrapes)"], m[1])
			}
		}
	}
	doc := readFile(t, filepath.Join(root, "docs", "architecture.md"))
	section, _, _ := strings.Cut(doc[strings.Index(doc, "## Services"):], "\n\n## ")
	for _, m := range regexp.MustCompile(`(?m)^\|\s*([a-z]+)\s*\|.*\|\s*\d{4,5}\s*\|\s*$`).FindAllStringSubmatch(section, -1) {
		lists["docs/architecture.md"] = append(lists["docs/architecture.md"], m[1])
	}
	base, overlays := kustomizations(t)
	for _, dir := range append([]string{base}, overlays...) {
		key := strings.TrimPrefix(dir, filepath.Join(root)+"/") + " (images)"
		lists[key] = nil
		for _, d := range build(t, dir).Deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				if repo, _, _ := splitImage(c.Image); strings.HasPrefix(repo, "staybook/") {
					lists[key] = append(lists[key], strings.TrimPrefix(repo, "staybook/"))
				}
			}
		}
	}
	return lists
}

func TestServiceLists_AgreeEverywhere(t *testing.T) {
	t.Parallel()
	report(t, checkServiceLists(serviceDirs(t), collectServiceLists(t)))
}

func TestServicePortsAndURLs_AgreeWithMakeDev(t *testing.T) {
	t.Parallel()
	_, ports, urlVars := stackVariables(t)
	for svc, port := range contractPorts {
		if ports[svc] != port {
			t.Errorf("system/stack DefaultPorts gives %s port %d, the contract %d", svc, ports[svc], port)
		}
	}
	// The variable a service is found by points at it, on its port, in
	// compose and in every overlay.
	p := loadCompose(t)
	_, overlays := kustomizations(t)
	for svc, variable := range urlVars {
		for _, s := range staybookServices(t, p) {
			if v, ok := envValue(s, variable); ok {
				if host, port, _ := splitAddress(v); host != svc || port != contractPorts[svc] {
					t.Errorf("compose %s: %s=%s, want http://%s:%d", s.Name, variable, v, svc, contractPorts[svc])
				}
			}
		}
		for _, dir := range overlays {
			m := build(t, dir)
			for _, name := range sortedKeys(m.Deployments) {
				c := staybookContainer(m.Deployments[name])
				if c == nil {
					continue
				}
				env, _ := m.containerEnv(t, name, *c)
				if v, ok := env[variable]; ok {
					if host, port, _ := splitAddress(v); host != svc || port != contractPorts[svc] {
						t.Errorf("%s %s: %s=%s, want http://%s:%d", filepath.Base(dir), name, variable, v, svc, contractPorts[svc])
					}
				}
			}
		}
	}
}

func TestImages_ComposeBuildsWhatTheOverlaysDeploy(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	_, overlays := kustomizations(t)
	for _, dir := range overlays {
		m := build(t, dir)
		for _, svc := range serviceDirs(t) {
			d, ok := m.Deployments[svc]
			if !ok || staybookContainer(d) == nil {
				continue // TestServiceLists_AgreeEverywhere reports it
			}
			if got, want := staybookContainer(d).Image, p.Services[svc].Image; got != want {
				t.Errorf("%s deploys %s, compose builds %s: `docker compose build` would not make the image the cluster needs", filepath.Base(dir), got, want)
			}
		}
	}
}

func TestServiceListChecks_CatchADriftingList(t *testing.T) {
	t.Parallel()
	dirs := serviceDirs(t)
	lists := collectServiceLists(t)
	if got := checkServiceLists(dirs, lists); len(got) != 0 {
		t.Fatalf("the lists disagree already: %v", got)
	}
	for _, source := range sortedKeys(lists) {
		broken := map[string][]string{source: slices.DeleteFunc(slices.Clone(lists[source]), func(s string) bool { return s == "voucher" })}
		if len(checkServiceLists(dirs, broken)) == 0 {
			t.Errorf("%s without voucher is not caught", source)
		}
	}
	if len(checkServiceLists(dirs, map[string][]string{"x": append(slices.Clone(dirs), "payments")})) == 0 {
		t.Error("a list with a service that has no directory is not caught")
	}
	// The parsers themselves, on texts that list services differently.
	if got := goWorkServices("go 1.26\n\nuse (\n\t./shared\n\t./services/web // the site\n)\nuse ./services/booking\n"); !slices.Equal(got, []string{"booking", "web"}) {
		t.Errorf("goWorkServices = %v", got)
	}
	if got := makefileServices("build:\n\tgo build ./services/web ./services/booking\n", dirs); !slices.Equal(got, []string{"booking", "web"}) {
		t.Errorf("makefileServices = %v", got)
	}
}
