package layers

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
)

// MaxFuncLines is the longest a function in services/ may be, its
// signature and closing brace included. Wiring that grows past it belongs
// in the service kit (shared/servicekit); logic past it reads better in
// named parts.
const MaxFuncLines = 60

// LongFunc is one function longer than MaxFuncLines.
type LongFunc struct {
	File  string // relative to the directory walked
	Name  string // Func or Type.Method
	Lines int
}

func (f LongFunc) String() string {
	return fmt.Sprintf("%s: %s is %d lines (at most %d)", f.File, f.Name, f.Lines, MaxFuncLines)
}

// LongFuncs returns the functions and methods of the non-test Go files
// under dir that are longer than MaxFuncLines.
func LongFuncs(dir string) ([]LongFunc, error) {
	var out []LongFunc
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			lines := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if lines > MaxFuncLines {
				out = append(out, LongFunc{File: filepath.ToSlash(rel), Name: funcName(fd), Lines: lines})
			}
		}
		return nil
	})
	return out, err
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if star, ok := t.(*ast.StarExpr); ok {
		t = star.X
	}
	if idx, ok := t.(*ast.IndexExpr); ok {
		t = idx.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}
