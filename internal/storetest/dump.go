package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/service"
)

// dumpRow is a row of a dump and the table it belongs to.
type dumpRow struct {
	Table string
	Row   []any
}

// export returns the dump of s, checking that its tables come in the order
// of DumpTables and that its rows have their columns' shapes.
func export(t *testing.T, s service.Store) []dumpRow {
	t.Helper()
	tables := service.DumpTables()
	var dump []dumpRow
	cur := 0
	err := s.Export(context.Background(), func(table string, row []any) error {
		i := slices.IndexFunc(tables, func(d service.DumpTable) bool { return d.Name == table })
		if i < cur {
			return fmt.Errorf("table %q after %q", table, tables[cur].Name)
		}
		cur = i
		if len(row) != len(tables[i].Columns) {
			return fmt.Errorf("table %s: row of %d values, want %d", table, len(row), len(tables[i].Columns))
		}
		for j, c := range tables[i].Columns {
			ok := false
			switch v := row[j].(type) {
			case nil:
				ok = c.Nullable
			case int64:
				ok = c.Type == service.DumpInt
			case string:
				ok = c.Type == service.DumpText
			case []byte:
				ok = c.Type == service.DumpBytes && v != nil
			}
			if !ok {
				return fmt.Errorf("table %s column %s: value %#v, want a %s (nullable %v)", table, c.Name, row[j], c.Type, c.Nullable)
			}
		}
		dump = append(dump, dumpRow{table, row})
		return nil
	})
	mustOK(t, "Export", err)
	return dump
}

// rowsOf returns a next function for Import that gives the rows of dump.
func rowsOf(dump []dumpRow) func() (string, []any, error) {
	i := 0
	return func() (string, []any, error) {
		if i == len(dump) {
			return "", nil, io.EOF
		}
		i++
		return dump[i-1].Table, dump[i-1].Row, nil
	}
}

// count returns how many rows of table dump holds.
func count(dump []dumpRow, table string) int {
	n := 0
	for _, r := range dump {
		if r.Table == table {
			n++
		}
	}
	return n
}

// testExportImportRoundTrip dumps a filled store and loads the dump into
// another, which then holds the same records, ids included, and works on.
func testExportImportRoundTrip(t *testing.T, open func(t *testing.T) service.Store) {
	ctx := context.Background()
	src := open(t)
	fl := fill(t, src)
	dump := export(t, src)
	for table, want := range map[string]int{"categories": 2, "roles": 3, "sdbs": 3, "user_group_permissions": 5,
		"iam_principal_permissions": 2, "secrets": 7, "secret_versions": 5, "users": 3, "server_keys": 2, "tokens": 0} {
		if got := count(dump, table); got != want {
			t.Fatalf("Export: %d rows of %s, want %d", got, table, want)
		}
	}

	dst := open(t)
	// A store that a server started on has server keys and may have
	// tokens: the dump's replace them.
	mustOK(t, "PutKeyIfAbsent", dst.PutKeyIfAbsent(ctx, "token-hmac", []byte("the new store's own key")))
	own := mustCreateToken(t, dst, cerberus.PrincipalUser, "someone")
	mustOK(t, "Import", dst.Import(ctx, rowsOf(dump)))

	wantEqual(t, "Export of the imported store", export(t, dst), dump)
	wantEqual(t, "ListSealed of the imported store", walk(t, dst, 4), fl.sealed)
	for _, call := range []struct {
		name string
		fn   func(s service.Store) (any, error)
	}{
		{"ListCategories", func(s service.Store) (any, error) { return s.ListCategories(ctx) }},
		{"ListRoles", func(s service.Store) (any, error) { return s.ListRoles(ctx) }},
		{"ListUsers", func(s service.Store) (any, error) { return s.ListUsers(ctx) }},
		{"FindKey", func(s service.Store) (any, error) { return s.FindKey(ctx, "token-hmac") }},
	} {
		want, err := call.fn(src)
		mustOK(t, call.name, err)
		got, err := call.fn(dst)
		mustOK(t, call.name+" of the imported store", err)
		wantEqual(t, call.name+" of the imported store", got, want)
	}
	for _, sdb := range fl.sdbs {
		got, err := dst.FindSDBByID(ctx, sdb.ID)
		mustOK(t, "FindSDBByID", err)
		wantSDB(t, "FindSDBByID of the imported store", got, sdb)
	}
	for _, p := range fl.paths {
		want, werr := src.FindSecret(ctx, p.sdbID, p.path)
		got, gerr := dst.FindSecret(ctx, p.sdbID, p.path)
		if cerberus.Code(werr) != cerberus.Code(gerr) {
			t.Fatalf("FindSecret(%q) of the imported store: error %v, want %v", p.path, gerr, werr)
		}
		wantEqual(t, "FindSecret of the imported store", got, want)
		wantHist, _, err := src.ListSecretVersions(ctx, p.sdbID, p.path, 100, 0)
		mustOK(t, "ListSecretVersions", err)
		gotHist, _, err := dst.ListSecretVersions(ctx, p.sdbID, p.path, 100, 0)
		mustOK(t, "ListSecretVersions of the imported store", err)
		wantEqual(t, "ListSecretVersions of the imported store", gotHist, wantHist)
	}
	for _, tok := range append(fl.tokens, own) {
		_, err := dst.FindTokenByHash(ctx, tok.Hash)
		wantCode(t, "FindTokenByHash of the imported store", err, cerberus.ECodeNotFound)
	}

	// The imported store works on: its history continues after the
	// imported one.
	p := fl.paths[0]
	cur, err := dst.FindSecret(ctx, p.sdbID, p.path)
	mustOK(t, "FindSecret", err)
	next := &service.SecretRecord{SDBID: p.sdbID, Path: p.path, Kind: cur.Kind, Ciphertext: []byte("after import"),
		SizeBytes: 1, LastUpdatedBy: "w", LastUpdatedAt: at(900)}
	mustOK(t, "PutSecret in the imported store", dst.PutSecret(ctx, next, cur.Version))
	hist, _, err := dst.ListSecretVersions(ctx, p.sdbID, p.path, 1, 0)
	mustOK(t, "ListSecretVersions", err)
	if len(hist) != 1 || hist[0].Version != cur.Version || !hist[0].ActionAt.Equal(at(900)) {
		t.Fatalf("ListSecretVersions after a write in the imported store: newest %s, want version %d archived at %v", show(hist), cur.Version, at(900))
	}
	f := newFixture(t, dst)
	f.mustCreateSDB(t, f.apps, "After", "after")
	mustCreateUser(t, dst, "after")
}

// testImportErrNotEmpty imports into a store that holds an SDB or a user:
// it is refused, and the store is left as it was; once they are deleted, the
// import works.
func testImportErrNotEmpty(t *testing.T, s service.Store) {
	ctx := context.Background()
	dump := export(t, s)
	before, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	f := newFixture(t, s)
	sdb := f.mustCreateSDB(t, f.apps, "Vault", "vault")
	wantCode(t, "Import into a store with an SDB", s.Import(ctx, rowsOf(dump)), cerberus.ECodeBadRequest)
	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, sdb.ID))
	u := mustCreateUser(t, s, "alice")
	wantCode(t, "Import into a store with a user", s.Import(ctx, rowsOf(dump)), cerberus.ECodeBadRequest)
	after, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	wantEqual(t, "ListCategories after a refused import", after, before)
	mustOK(t, "DeleteUser", s.DeleteUser(ctx, u.Name))
	mustOK(t, "Import into a store emptied again", s.Import(ctx, rowsOf(dump)))
}

// testImportErrBadDump imports dumps that are not whole dumps: each is
// refused, and none of it is stored.
func testImportErrBadDump(t *testing.T, s service.Store) {
	ctx := context.Background()
	good := export(t, s) // the seeded categories and roles
	before, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	// fresh returns good with new category and role ids, so that an import
	// that stored anything would show.
	fresh := func() []dumpRow {
		var d []dumpRow
		for _, r := range good {
			row := slices.Clone(r.Row)
			row[0] = cerberus.NewID()
			d = append(d, dumpRow{r.Table, row})
		}
		return d
	}
	edit := func(fn func(d []dumpRow) []dumpRow) []dumpRow { return fn(fresh()) }
	errStop := errors.New("the backup file is damaged")
	tests := []struct {
		name string
		next func() (string, []any, error)
		code cerberus.ErrorCode
	}{
		{"UnknownTable", rowsOf(edit(func(d []dumpRow) []dumpRow {
			return append(d, dumpRow{"tokens", []any{"x"}})
		})), cerberus.ECodeBadRequest},
		{"OutOfOrder", rowsOf(edit(func(d []dumpRow) []dumpRow {
			slices.Reverse(d)
			return d
		})), cerberus.ECodeBadRequest},
		{"ShortRow", rowsOf(edit(func(d []dumpRow) []dumpRow {
			d[1].Row = d[1].Row[:len(d[1].Row)-1]
			return d
		})), cerberus.ECodeBadRequest},
		{"WrongType", rowsOf(edit(func(d []dumpRow) []dumpRow {
			d[1].Row[len(d[1].Row)-1] = "yesterday"
			return d
		})), cerberus.ECodeBadRequest},
		{"IntNotInt64", rowsOf(edit(func(d []dumpRow) []dumpRow {
			d[1].Row[len(d[1].Row)-1] = 5
			return d
		})), cerberus.ECodeBadRequest},
		{"NullNotNullable", rowsOf(edit(func(d []dumpRow) []dumpRow {
			d[1].Row[1] = nil
			return d
		})), cerberus.ECodeBadRequest},
		{"NoCategories", rowsOf(edit(func(d []dumpRow) []dumpRow {
			return slices.DeleteFunc(d, func(r dumpRow) bool { return r.Table == "categories" })
		})), cerberus.ECodeBadRequest},
		{"NoRoles", rowsOf(edit(func(d []dumpRow) []dumpRow {
			return slices.DeleteFunc(d, func(r dumpRow) bool { return r.Table == "roles" })
		})), cerberus.ECodeBadRequest},
		{"DuplicateKey", rowsOf(edit(func(d []dumpRow) []dumpRow {
			d[1].Row[0] = d[0].Row[0]
			return d
		})), cerberus.ECodeBadRequest},
		{"SourceFails", func() func() (string, []any, error) {
			next := rowsOf(fresh())
			n := 0
			return func() (string, []any, error) {
				if n++; n == 4 {
					return "", nil, errStop
				}
				return next()
			}
		}(), cerberus.ECodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Import(ctx, tt.next)
			wantCode(t, "Import", err, tt.code)
			if tt.name == "SourceFails" && !errors.Is(err, errStop) {
				t.Fatalf("Import with a failing source: error %v, want the source's error", err)
			}
			after, err := s.ListCategories(ctx)
			mustOK(t, "ListCategories", err)
			wantEqual(t, "ListCategories after a failed import", after, before)
		})
	}
	// A good dump with other ids replaces the seeded categories and roles.
	d := fresh()
	mustOK(t, "Import", s.Import(ctx, rowsOf(d)))
	cs, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	for _, c := range cs {
		if !slices.ContainsFunc(d, func(r dumpRow) bool { return r.Table == "categories" && r.Row[0] == c.ID }) {
			t.Fatalf("ListCategories after an import: category %s, want the dump's ids", show(c))
		}
	}
}

// testExportErrFn stops an export from its callback: Export returns the
// callback's error.
func testExportErrFn(t *testing.T, s service.Store) {
	fill(t, s)
	errStop := errors.New("disk full")
	n := 0
	err := s.Export(context.Background(), func(string, []any) error {
		if n++; n == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || n != 3 {
		t.Fatalf("Export with a failing callback: error %v after %d rows, want %v after 3", err, n, errStop)
	}
	// The store still works.
	export(t, s)
}

// testImportMaxVersions dumps an SDB with a history bound: its row ends
// with max_versions. Imported, the row gives the bound back; a row of an
// older dump, without the column, gives 0; a row shorter still is refused.
func testImportMaxVersions(t *testing.T, s service.Store) {
	ctx := context.Background()
	f := newFixture(t, s)
	sdb := f.sdb(f.apps, "Vault", "vault")
	sdb.MaxVersions = 4
	mustOK(t, "CreateSDB", s.CreateSDB(ctx, sdb))
	dump := export(t, s)
	i := slices.IndexFunc(dump, func(r dumpRow) bool { return r.Table == "sdbs" })
	if i < 0 {
		t.Fatal("Export: no row of sdbs")
	}
	row := dump[i].Row
	if got := row[len(row)-1]; got != int64(4) {
		t.Fatalf("Export: the row of an SDB with MaxVersions 4 ends with %#v, want int64(4)", got)
	}
	categories, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, sdb.ID))

	// withRow returns dump with the SDB's row cut to n values.
	withRow := func(n int) []dumpRow {
		d := slices.Clone(dump)
		d[i] = dumpRow{"sdbs", slices.Clone(row[:n])}
		return d
	}
	for _, tt := range []struct {
		name   string
		values int
		want   int
	}{
		{"Current", len(row), 4},
		{"Older", len(row) - 1, 0},
	} {
		call := fmt.Sprintf("Import of an SDB row of %d values", tt.values)
		mustOK(t, call, s.Import(ctx, rowsOf(withRow(tt.values))))
		want := *sdb
		want.MaxVersions = tt.want
		got, err := s.FindSDBByID(ctx, sdb.ID)
		mustOK(t, "FindSDBByID after "+call, err)
		wantSDB(t, "FindSDBByID after "+call, got, &want)
		mustOK(t, "DeleteSDB", s.DeleteSDB(ctx, sdb.ID))
	}
	call := fmt.Sprintf("Import of an SDB row of %d values", len(row)-2)
	wantCode(t, call, s.Import(ctx, rowsOf(withRow(len(row)-2))), cerberus.ECodeBadRequest)
	_, err = s.FindSDBByID(ctx, sdb.ID)
	wantCode(t, "FindSDBByID after a refused "+call, err, cerberus.ECodeNotFound)
	after, err := s.ListCategories(ctx)
	mustOK(t, "ListCategories", err)
	wantEqual(t, "ListCategories after a refused "+call, after, categories)
	// The store was fit for an import: only the row was refused.
	mustOK(t, "Import after a refused "+call, s.Import(ctx, rowsOf(dump)))
}
