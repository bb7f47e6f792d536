package layers

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestWorkspaceKeepsTheLayers checks every package of the workspace (go.work)
// against the rule.
func TestWorkspaceKeepsTheLayers(t *testing.T) {
	root := workspaceRoot(t)
	pkgs, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	// The check must have seen the layers it is about, or it passes on nothing.
	for _, want := range []string{"services/booking/internal/domain", "services/email/internal/ports", "services/voucher/internal/adapters"} {
		if !slices.ContainsFunc(pkgs, func(p Package) bool { return p.ImportPath == Project+want }) {
			t.Fatalf("go list work did not list %s (%d packages listed)", want, len(pkgs))
		}
	}
	violations, stale := Check(pkgs, knownViolations)
	for _, v := range violations {
		t.Errorf("%s", trim(v.String()))
	}
	for _, e := range stale {
		t.Errorf("knownViolations: %s no longer imports %s: remove its line", e.Package, e.Import)
	}
}

func workspaceRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the test's directory")
		}
		dir = parent
	}
}

func trim(s string) string { return strings.ReplaceAll(s, Project, "") }

// graph builds packages from "pkg: import import ..." lines, paths without
// Project.
func graph(lines ...string) []Package {
	var pkgs []Package
	for _, line := range lines {
		name, imports, _ := strings.Cut(line, ":")
		p := Package{ImportPath: Project + strings.TrimSpace(name)}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, "services/") || strings.HasPrefix(imp, "shared/") {
				imp = Project + imp
			}
			p.Imports = append(p.Imports, imp)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func violationStrings(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, trim(v.String()))
	}
	return out
}

// A graph that keeps the rule: the layers import what they may, the
// composition root and the main package import anything of their service,
// a service that is not layered (legacy) is held to the first rule only, standard and third-party imports are
// not the rule's business.
var clean = []string{
	"shared/contracts: encoding/json",
	"shared/messaging: shared/contracts github.com/rabbitmq/amqp091-go",
	"services/hotel: services/hotel/internal/service shared/config",
	"services/hotel/internal/domain: shared/contracts time",
	"services/hotel/internal/domain/money: services/hotel/internal/domain",
	"services/hotel/internal/app: services/hotel/internal/domain shared/contracts shared/messaging",
	"services/hotel/internal/adapters/postgres: services/hotel/internal/adapters/postgres/migrations services/hotel/internal/app services/hotel/internal/domain shared/messaging",
	"services/hotel/internal/adapters/postgres/migrations: embed",
	"services/hotel/internal/adapters/broker: services/hotel/internal/domain shared/messaging",
	"services/hotel/internal/ports: services/hotel/internal/app services/hotel/internal/domain shared/httpx",
	"services/hotel/internal/service: services/hotel/internal/adapters/postgres services/hotel/internal/ports services/hotel/internal/app shared/messaging",
	"services/legacy/internal/site: services/legacy/internal/catalogue shared/httpx",
	"services/legacy/internal/catalogue: shared/contracts",
	// Named in outsideLayers: only the first rule applies.
	"services/notification/internal/domain:",
	"services/notification/internal/ntfytest: services/notification/internal/domain",
}

func TestCheck_CleanGraphPasses(t *testing.T) {
	violations, stale := Check(graph(clean...), nil)
	if len(violations) != 0 || len(stale) != 0 {
		t.Fatalf("violations %q, stale %v; want none", violationStrings(violations), stale)
	}
}

func TestCheck_ReportsEachBrokenRule(t *testing.T) {
	broken := []string{
		"shared/faults: services/hotel/internal/domain",
		"services/legacy/internal/site: services/hotel/internal/app",
		"services/hotel/internal/domain/money: shared/messaging services/hotel/internal/app",
		"services/hotel/internal/app: services/hotel/internal/adapters/postgres services/hotel/internal/ports services/hotel/internal/service",
		"services/hotel/internal/adapters/broker: services/hotel/internal/ports services/hotel/internal/adapters/postgres",
		"services/hotel/internal/ports: services/hotel/internal/adapters/broker",
		"services/hotel/internal/service: services/voucher/internal/domain",
		"services/hotel/internal/helpers: services/hotel/internal/domain",
	}
	violations, _ := Check(graph(append(clean, broken...)...), nil)
	want := []string{
		"shared/faults imports services/hotel/internal/domain: shared imports no service",
		"services/legacy/internal/site imports services/hotel/internal/app: no service imports another service",
		"services/hotel/internal/domain/money imports shared/messaging: domain imports nothing of the project but shared/contracts",
		"services/hotel/internal/domain/money imports services/hotel/internal/app: domain imports nothing of the project but shared/contracts",
		"services/hotel/internal/app imports services/hotel/internal/adapters/postgres: app imports only domain and shared",
		"services/hotel/internal/app imports services/hotel/internal/ports: app imports only domain and shared",
		"services/hotel/internal/app imports services/hotel/internal/service: app imports only domain and shared",
		"services/hotel/internal/adapters/broker imports services/hotel/internal/ports: an adapter imports only app, domain and shared (not ports, nor another adapter)",
		"services/hotel/internal/adapters/broker imports services/hotel/internal/adapters/postgres: an adapter imports only app, domain and shared (not ports, nor another adapter)",
		"services/hotel/internal/ports imports services/hotel/internal/adapters/broker: ports import only app, domain and shared (not adapters)",
		"services/hotel/internal/service imports services/voucher/internal/domain: no service imports another service",
		"services/hotel/internal/helpers: not in a layer (domain, app, adapters, ports, service); move it into one or name it in outsideLayers",
	}
	got := violationStrings(violations)
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheck_ExceptionsPassTheirImportOnlyAndGoStale(t *testing.T) {
	pkgs := graph(append(clean,
		"services/hotel/internal/app: services/hotel/internal/domain services/hotel/internal/adapters/postgres services/hotel/internal/ports",
	)...)
	exceptions := []Exception{
		{"services/hotel/internal/app", "services/hotel/internal/adapters/postgres", "being removed"},
		{"services/hotel/internal/domain", "shared/messaging", "being removed"},
	}
	violations, stale := Check(pkgs, exceptions)
	want := []string{"services/hotel/internal/app imports services/hotel/internal/ports: app imports only domain and shared"}
	if got := violationStrings(violations); !reflect.DeepEqual(got, want) {
		t.Errorf("violations %q, want %q", got, want)
	}
	if !reflect.DeepEqual(stale, exceptions[1:]) {
		t.Errorf("stale %v, want %v", stale, exceptions[1:])
	}
}
