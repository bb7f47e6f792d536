package layers

import (
	"os"
	"path/filepath"
	"testing"
)

// TestServicesHaveNoFunctionLongerThanMaxFuncLines holds every non-test
// function in services/ to MaxFuncLines.
func TestServicesHaveNoFunctionLongerThanMaxFuncLines(t *testing.T) {
	long, err := LongFuncs(filepath.Join(workspaceRoot(t), "services"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range long {
		t.Errorf("%s", f)
	}
}

func TestLongFuncs_ReportsAFunctionOverTheLimitAndNotOneAtIt(t *testing.T) {
	dir := t.TempDir()
	body := func(name string, lines int) string {
		s := "func " + name + "() {\n"
		for range lines - 2 {
			s += "\t_ = 1\n"
		}
		return s + "}\n"
	}
	src := "package p\n\n" + body("atTheLimit", MaxFuncLines) + body("overIt", MaxFuncLines+1) +
		"type T struct{}\n\nfunc (t *T) " + body("method", MaxFuncLines+5)[len("func "):]
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\n"+body("longTest", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	long, err := LongFuncs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(long) != 2 || long[0].Name != "overIt" || long[0].Lines != MaxFuncLines+1 || long[1].Name != "T.method" {
		t.Fatalf("LongFuncs = %v, want overIt (%d lines) and T.method", long, MaxFuncLines+1)
	}
}
