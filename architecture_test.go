package cte_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/ctexchange/cte"

// imports maps each package of the module (by import path) to what its non-test
// files import, read from the source so the check needs no go command.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil {
				return filepath.SkipDir // a module of its own (internal/storecmp)
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := module
		if dir := filepath.ToSlash(filepath.Dir(path)); dir != "." {
			pkg += "/" + dir
		}
		for _, spec := range f.Imports {
			p, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if !slices.Contains(out[pkg], p) {
				out[pkg] = append(out[pkg], p)
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, out, module+"/sharing", "the walk found the module's packages")
	return out
}

// under reports whether p is the module package rel or one below it.
func under(p, rel string) bool {
	base := module
	if rel != "" {
		base += "/" + rel
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

// TestArchitecture checks the import rules of ARCHITECTURE.md.
func TestArchitecture(t *testing.T) {
	t.Parallel()
	all := imports(t)
	forbid := func(pkg, imp, rule string) {
		t.Errorf("%s imports %s: %s (see ARCHITECTURE.md)", pkg, imp, rule)
	}
	for pkg, imps := range all {
		for _, imp := range imps {
			mod := under(imp, "")
			switch {
			case pkg == module && mod && imp != module+"/ioc":
				forbid(pkg, imp, "the contracts import ioc and nothing else of the module")
			case under(pkg, "ioc") && mod:
				forbid(pkg, imp, "ioc is a leaf")
			case under(pkg, "mimecast") && under(imp, "netskope"), under(pkg, "netskope") && under(imp, "mimecast"):
				forbid(pkg, imp, "products do not know each other")
			case pkg == module+"/mimecast/mimecasttest" && imp == module+"/mimecast",
				pkg == module+"/netskope/netskopetest" && imp == module+"/netskope":
				forbid(pkg, imp, "a fake never imports the client it fakes")
			case under(pkg, "console") && (under(imp, "mimecast") || under(imp, "netskope") ||
				under(imp, "internal") || under(imp, "sharing/store")):
				forbid(pkg, imp, "the console knows no product and no concrete store")
			case under(pkg, "sharing/rule") && mod && imp != module+"/ioc":
				forbid(pkg, imp, "the rule language imports ioc only")
			case under(pkg, "sharing") && !under(pkg, "sharing/store") &&
				(under(imp, "mimecast") || under(imp, "netskope") || under(imp, "internal") ||
					under(imp, "sharing/store") || imp == "net/http"):
				forbid(pkg, imp, "the engine knows no product, no concrete store and no HTTP stack")
			case strings.HasSuffix(imp, "test") && mod && !strings.HasSuffix(pkg, "test") &&
				pkg != module+"/cmd/cte" && pkg != module+"/internal/benchjob":
				forbid(pkg, imp, "production code imports no fake or test kit; only the demo (cmd/cte) and the job benchmark do")
			}
		}
	}
}

// TestArchitectureBinaryLinksNoTesting checks that nothing the cte command links imports
// testing.
func TestArchitectureBinaryLinksNoTesting(t *testing.T) {
	t.Parallel()
	all := imports(t)
	seen := map[string]string{} // package -> the package that brought it in
	queue := []string{module + "/cmd/cte"}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		for _, imp := range all[pkg] {
			if imp == "testing" {
				t.Errorf("cmd/cte links %s through %s (imported from %s)", imp, pkg, seen[pkg])
			}
			if _, ok := seen[imp]; !ok && under(imp, "") {
				seen[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	require.Contains(t, seen, module+"/sharing", "the walk followed the command's imports")
}
