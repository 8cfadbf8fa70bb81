package main

import (
	"strings"
	"testing"
)

// TestAdminCommandsNeedASetUpDatabase checks that the admin commands refuse
// a PostgreSQL or MySQL database that no server has set up (a mistyped
// --dsn) instead of making a store in it, and work once a server has.
func TestAdminCommandsNeedASetUpDatabase(t *testing.T) {
	for _, store := range []string{"postgres", "mysql"} {
		t.Run(store, func(t *testing.T) {
			data := privateDir(t)
			startServer(t, data).stop() // a data directory with its master.key
			args := storeArgs(t, store)
			for _, cmd := range [][]string{{"user", "list"}, {"category", "list"}, {"keys", "status"}} {
				code, out, errOut := runCmd(t, "", noEnv, append(append(cmd, "--data", data), args...)...)
				want := "the " + store + " database of --dsn (CERBERUS_DSN) holds no Cerberus store: no server has started on it"
				if code != 1 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "check --dsn") {
					t.Errorf("%s on a database no server set up: exit %d, stdout %q, stderr %q; want exit 1 and %q", cmd, code, out, errOut, want)
				}
			}
			code, _, errOut := runCmd(t, "a long enough password\n", noEnv, append([]string{"user", "add", "alice", "--groups", "g", "--data", data}, args...)...)
			if code != 1 || !strings.Contains(errOut, "holds no Cerberus store") {
				t.Errorf("user add on a database no server set up: exit %d, stderr %q; want a refusal", code, errOut)
			}
			// The server sets the store up, with its admin: the user add
			// above made no user that would stop it.
			s := startServer(t, data, args...)
			if s.password == "" {
				t.Fatalf("the first server on the database printed no admin password: %q", s.stdout.String())
			}
			code, out, errOut := runCmd(t, "", noEnv, append([]string{"user", "list", "--data", data}, args...)...)
			if code != 0 || !strings.Contains(out, "admin") || strings.Contains(out, "alice") {
				t.Errorf("user list once a server set the database up: exit %d, stdout %q, stderr %q; want admin alone", code, out, errOut)
			}
		})
	}
}

// TestServingLineNamesTheStore checks that the line saying the server
// serves names where its data is: the data directory of SQLite, or the
// database of PostgreSQL or MySQL, without the DSN's password.
func TestServingLineNamesTheStore(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			data := privateDir(t)
			args := storeArgs(t, store)
			out := startServer(t, data, args...).stdout.String()
			line := servingLine.FindString(out)
			if i := strings.Index(out, line); i >= 0 {
				line = strings.SplitN(out[i:], "\n", 2)[0]
			}
			want := map[string]string{
				"sqlite":   " (data in " + data + ")",
				"postgres": `(store: PostgreSQL database "`,
				"mysql":    `(store: MySQL database "`,
			}[store]
			if !strings.Contains(line, want) {
				t.Errorf("serving line %q, want %q", line, want)
			}
			if store == "sqlite" {
				return
			}
			if strings.Contains(line, "data in") || !strings.HasSuffix(line, "; master key in "+data+"/master.key)") {
				t.Errorf("serving line %q says the data is in the data directory, or not where the master key is", line)
			}
			if dsn := args[len(args)-1]; strings.Contains(line, dsn) || strings.Contains(line, "password") {
				t.Errorf("serving line %q shows the DSN", line)
			}
		})
	}
}
