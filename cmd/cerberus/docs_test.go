package main

import (
	"os"
	"os/exec"
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

// codeLines returns the lines of the indented code blocks of a Markdown
// text, with their line numbers (from 1).
func codeLines(text string) (lines []string, numbers []int) {
	prevBlank, inCode := true, false
	for i, l := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			prevBlank = true
			continue
		case strings.HasPrefix(l, "    ") && (prevBlank || inCode):
			inCode = true
			lines = append(lines, strings.TrimSpace(l))
			numbers = append(numbers, i+1)
		default:
			inCode = false
		}
		prevBlank = false
	}
	return lines, numbers
}

// TestREADMEStartsWithTheTwoCommands checks that README.md begins with the
// two commands: run the server on the embedded default, and run the test
// suite. (That both work is the suite itself, and the first start tests.)
func TestREADMEStartsWithTheTwoCommands(t *testing.T) {
	code, _ := codeLines(readDoc(t, "README.md"))
	if len(code) < 2 || code[0] != "go run ./cmd/cerberus server" || code[1] != "./scripts/test" {
		t.Fatalf("the first commands of README.md are %q; want \"go run ./cmd/cerberus server\" then \"./scripts/test\"", code[:min(2, len(code))])
	}
	if _, err := os.Stat(filepath.Join("..", "..", "scripts", "test")); err != nil {
		t.Errorf("README.md names ./scripts/test: %v", err)
	}
}

// TestREADMEInstallsTheCommand checks that README.md says how to get the
// command cerberus before it uses it, and that what it says works: the
// install line, run as written, makes a cerberus that runs.
func TestREADMEInstallsTheCommand(t *testing.T) {
	code, numbers := codeLines(readDoc(t, "README.md"))
	install, firstUse := -1, -1
	uses := regexp.MustCompile(`(^|\| *|\$\()cerberus `)
	for i, l := range code {
		if l == "go install ./cmd/cerberus" && install < 0 {
			install = i
		}
		if uses.MatchString(l) && firstUse < 0 {
			firstUse = i
		}
	}
	switch {
	case install < 0:
		t.Fatal("README.md has no code line \"go install ./cmd/cerberus\"")
	case firstUse < 0:
		t.Fatal("README.md uses no cerberus command: the test would check nothing")
	case firstUse < install:
		t.Fatalf("README.md uses %q (line %d) before it says how to install cerberus (line %d)", code[firstUse], numbers[firstUse], numbers[install])
	}
	if testing.Short() {
		t.Skip("builds the command: not with -short")
	}
	bin := t.TempDir()
	cmd := exec.Command("sh", "-c", code[install])
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", code[install], err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "cerberus"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "cerberus ") {
		t.Fatalf("cerberus version after %s: %v, %q", code[install], err, out)
	}
}

// TestDocsCodeBlocksEndCleanly checks the Markdown of README.md and docs/:
// a line that follows an indented code block without a blank line, and is
// indented by less than a code line (such as " For production, run" after
// the build line of README.md), reads as a stray piece of text.
func TestDocsCodeBlocksEndCleanly(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	for _, path := range append(docs, filepath.Join("..", "..", "README.md")) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		_, numbers := codeLines(string(b))
		for _, n := range numbers {
			if n < len(lines) {
				next := lines[n] // the line after line n
				if strings.TrimSpace(next) != "" && !strings.HasPrefix(next, "    ") {
					t.Errorf("%s:%d: %q follows a code block without a blank line", filepath.Base(path), n+1, next)
				}
			}
		}
	}
}
