package cerberus_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules enforces the dependency rules of ARCHITECTURE.md §4 on
// the non-test imports of every package of the module.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/cerberus-go/cerberus"
	isStd := func(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }
	under := func(pkg string, dirs ...string) bool {
		for _, d := range dirs {
			if pkg == mod+"/"+d || strings.HasPrefix(pkg, mod+"/"+d+"/") {
				return true
			}
		}
		return false
	}
	type rule struct {
		imported string   // an import path prefix
		allowed  []string // the module directories that may import it
	}
	rules := []rule{
		{"modernc.org/sqlite", []string{"sqlstore"}},
		{"github.com/jackc/pgx", []string{"sqlstore", "internal/dbtest"}},
		{"github.com/go-sql-driver/mysql", []string{"sqlstore", "internal/dbtest"}},
		{"github.com/aws/aws-sdk-go-v2", []string{"awskms", "stsauth", "client", "cmd", "internal/kmstest"}},
		{mod + "/sqlstore", []string{"sqlstore", "cmd", "internal"}},
		{mod + "/localkms", []string{"cmd", "internal"}},
		{mod + "/envelope", []string{"localkms", "awskms", "kekcache", "cmd", "internal"}},
		{mod + "/http", []string{"cmd", "internal"}},
		{mod + "/service", []string{"sqlstore", "cmd", "internal"}},
		{"github.com/spf13/cobra", []string{"cmd"}},
		// Metrics: the other packages report to small interfaces of
		// their own, which package metrics implements.
		{"github.com/prometheus", []string{"metrics", "cmd"}},
		{mod + "/metrics", []string{"cmd"}},
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 8 {
		t.Fatalf("go list found %d packages; the rules would check nothing", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		for _, imp := range imports {
			if pkg == mod && !isStd(imp) {
				t.Errorf("the root package imports %s; it may import only the standard library", imp)
			}
			for _, r := range rules {
				if (imp == r.imported || strings.HasPrefix(imp, r.imported+"/")) && !under(pkg, r.allowed...) {
					t.Errorf("%s imports %s; only %v may", pkg, imp, r.allowed)
				}
			}
		}
	}
}
