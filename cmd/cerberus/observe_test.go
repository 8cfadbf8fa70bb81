package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"

	"github.com/cerberus-go/cerberus/service"
)

// TestMeteredStoreCoversStore checks that meteredStore declares every
// method of service.Store, so that no store call escapes the metrics: the
// Store it embeds would otherwise answer a method added later, unobserved.
func TestMeteredStoreCoversStore(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "observe.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
			continue
		}
		if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := star.X.(*ast.Ident); ok && id.Name == "meteredStore" {
				declared[fn.Name.Name] = true
			}
		}
	}
	store := reflect.TypeFor[service.Store]()
	if store.NumMethod() < 40 {
		t.Fatalf("service.Store has %d methods; the check would check little", store.NumMethod())
	}
	for i := range store.NumMethod() {
		if name := store.Method(i).Name; !declared[name] {
			t.Errorf("meteredStore does not declare service.Store's method %s: its calls are not observed; add it to observe.go", name)
		}
	}
}
