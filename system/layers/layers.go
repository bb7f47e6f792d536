// Package layers holds the dependency rule of Staybook's packages and checks
// an import graph against it (docs/architecture.md, "Package layers"). Its
// test checks the workspace; make lint and make test run that test.
//
// The rule, for production imports (a test may reach further, for example an
// app test that drives a real adapter):
//
//   - No service imports another service; shared imports no service.
//   - A layered service (one with internal/domain) keeps each package of its
//     internal/ in a layer or names it in outsideLayers:
//     domain imports nothing of the project but shared/contracts;
//     app imports domain and shared;
//     adapters/... import app, domain and shared, not ports;
//     ports import app, domain and shared, not adapters;
//     service (the composition root) may import any package of its service.
//
// A service that is not layered (it has no internal/domain) is held to the
// first rule only.
package layers

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Project is the import path prefix of every package of the repository.
const Project = "github.com/staybook/staybook/"

// outsideLayers are the packages of layered services that belong to no layer,
// by service and directory under internal/, each with what it is. They are
// held only to the first rule; a package that is neither in a layer nor here
// is reported as not in a layer.
var outsideLayers = map[string]map[string]string{
	"notification": {"ntfytest": "a test ntfy server"},
}

// knownViolations are imports that break the rule today and are being
// removed; the workspace test lets them pass and fails once one is gone, so
// that its line goes too.
var knownViolations = []Exception{}

// Package is one package of the graph: its import path and the import paths
// its non-test files import.
type Package struct {
	ImportPath string
	Imports    []string
}

// Violation is one import that breaks the rule, or (Import empty) a package
// that is in no layer.
type Violation struct {
	Package, Import, Rule string
}

func (v Violation) String() string {
	if v.Import == "" {
		return fmt.Sprintf("%s: %s", v.Package, v.Rule)
	}
	return fmt.Sprintf("%s imports %s: %s", v.Package, v.Import, v.Rule)
}

// Exception lets one known violation pass until the import is removed. Its
// paths are without Project.
type Exception struct {
	Package, Import, Reason string
}

// Check returns the violations of pkgs that no exception covers, and the
// exceptions that matched none (stale: the import is gone, remove them).
func Check(pkgs []Package, exceptions []Exception) (violations []Violation, stale []Exception) {
	layered := map[string]bool{}
	for _, p := range pkgs {
		if s, ok := parse(p.ImportPath); ok && s.layer == "domain" {
			layered[s.service] = true
		}
	}
	used := make([]bool, len(exceptions))
	excepted := func(v Violation) bool {
		for i, e := range exceptions {
			if Project+e.Package == v.Package && Project+e.Import == v.Import {
				used[i] = true
				return true
			}
		}
		return false
	}
	for _, p := range pkgs {
		for _, v := range checkPackage(p, layered) {
			if !excepted(v) {
				violations = append(violations, v)
			}
		}
	}
	for i, e := range exceptions {
		if !used[i] {
			stale = append(stale, e)
		}
	}
	return violations, stale
}

// place is where a package of the project sits.
type place struct {
	rel     string // the import path without Project
	shared  bool   // in the shared module
	service string // the service's name, if under services/
	layer   string // the directory under internal/ (domain, app, ...), if any
	adapter string // for adapters: the adapter's root (adapters/<name>, or adapters itself)
}

func parse(importPath string) (place, bool) {
	rel, ok := strings.CutPrefix(importPath, Project)
	if !ok {
		return place{}, false
	}
	parts := strings.Split(rel, "/")
	p := place{rel: rel}
	switch {
	case parts[0] == "shared":
		p.shared = true
	case parts[0] == "services" && len(parts) >= 2:
		p.service = parts[1]
		if len(parts) >= 4 && parts[2] == "internal" {
			p.layer = parts[3]
			if p.layer == "adapters" {
				p.adapter = strings.Join(parts[3:min(len(parts), 5)], "/")
			}
		}
	}
	return p, true
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool {
	return rel == dir || strings.HasPrefix(rel, dir+"/")
}

func checkPackage(pkg Package, layered map[string]bool) []Violation {
	from, ok := parse(pkg.ImportPath)
	if !ok {
		return nil
	}
	var out []Violation
	report := func(imp, rule string) {
		out = append(out, Violation{Package: pkg.ImportPath, Import: imp, Rule: rule})
	}
	inLayer := from.service != "" && layered[from.service] && from.layer != ""
	if inLayer {
		switch from.layer {
		case "domain", "app", "adapters", "ports", "service":
		default:
			if _, named := outsideLayers[from.service][from.layer]; !named {
				report("", "not in a layer (domain, app, adapters, ports, service); move it into one or name it in outsideLayers")
			}
		}
	}
	internal := "services/" + from.service + "/internal/"
	for _, imp := range pkg.Imports {
		to, ok := parse(imp)
		if !ok {
			continue
		}
		switch {
		case from.shared && to.service != "":
			report(imp, "shared imports no service")
			continue
		case from.service != "" && to.service != "" && to.service != from.service:
			report(imp, "no service imports another service")
			continue
		}
		if !inLayer {
			continue
		}
		own := func(layer string) bool { return to.service == from.service && under(to.rel, internal+layer) }
		switch from.layer {
		case "domain":
			if !own("domain") && !under(to.rel, "shared/contracts") {
				report(imp, "domain imports nothing of the project but shared/contracts")
			}
		case "app":
			if !own("app") && !own("domain") && !to.shared {
				report(imp, "app imports only domain and shared")
			}
		case "adapters":
			if !own(from.adapter) && !own("app") && !own("domain") && !to.shared {
				report(imp, "an adapter imports only app, domain and shared (not ports, nor another adapter)")
			}
		case "ports":
			if !own("ports") && !own("app") && !own("domain") && !to.shared {
				report(imp, "ports import only app, domain and shared (not adapters)")
			}
		}
	}
	return out
}

// Load lists the packages of the workspace whose go.work is in root, with
// their production imports, and checks that every module under services/
// and shared is among them (a service left out of go.work would be skipped).
func Load(root string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "work")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list work: %v: %s", err, stderr.String())
	}
	var pkgs []Package
	seen := map[string]bool{}
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		if len(fields) == 0 {
			continue
		}
		pkgs = append(pkgs, Package{ImportPath: fields[0], Imports: fields[1:]})
		if p, ok := parse(fields[0]); ok {
			switch {
			case p.shared:
				seen["shared"] = true
			case p.service != "":
				seen["services/"+p.service] = true
			}
		}
	}
	mods, err := filepath.Glob(filepath.Join(root, "services", "*", "go.mod"))
	if err != nil {
		return nil, err
	}
	want := []string{"shared"}
	for _, m := range mods {
		want = append(want, "services/"+filepath.Base(filepath.Dir(m)))
	}
	var missing []string
	for _, w := range want {
		if !seen[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("go list work found no package of %s (not in go.work?)", strings.Join(missing, ", "))
	}
	return pkgs, nil
}
