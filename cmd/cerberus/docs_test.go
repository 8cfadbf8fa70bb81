package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readDoc returns a file of the module's documentation, such as
// "docs/configuration.md".
func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConfigFileOfTheDocs runs the admin commands with the example config
// file of docs/configuration.md, which holds server-only settings: they
// take it, as the docs say, to open the store the server opens.
func TestConfigFileOfTheDocs(t *testing.T) {
	doc := readDoc(t, "docs/configuration.md")
	m := regexp.MustCompile("(?s)## Config file\n.*?```json\n(.*?)```").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/configuration.md has no JSON example under \"## Config file\"")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "cerberus.json")
	if err := os.WriteFile(file, []byte(m[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	data := privateDir(t)
	startServer(t, data).stop()
	for _, args := range [][]string{
		{"user", "list"},
		{"category", "list"},
		{"keys", "status"},
		{"backup", "--out", filepath.Join(dir, "backup")},
	} {
		// --data overrides the file's, which names a system directory.
		code, out, errOut := runCmd(t, "", noEnv, append(args, "--config", file, "--data", data)...)
		if code != 0 {
			t.Errorf("%s --config <the example of docs/configuration.md>: exit %d, stdout %q, stderr %q; want exit 0",
				strings.Join(args, " "), code, out, errOut)
		}
		env := map[string]string{"CERBERUS_CONFIG": file, "CERBERUS_DATA": data}
		code, out, errOut = runCmd(t, "", func(k string) string { return env[k] }, args...)
		if code != 0 {
			t.Errorf("CERBERUS_CONFIG=<the example> %s: exit %d, stdout %q, stderr %q; want exit 0",
				strings.Join(args, " "), code, out, errOut)
		}
	}
}
