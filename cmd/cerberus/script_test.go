package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs the command-line scripts of testdata/script: each is a
// txtar archive of files and of commands typed as a user types them, with
// the output they must print (see testscript). The command cerberus is
// this test binary running main. Scripts see no CERBERUS_* variable of the
// environment they run in.
//
// Besides testscript's own commands, the scripts have:
//
//	serve-once [args...]
//
// which runs `cerberus server --listen 127.0.0.1:0 args...` until it
// serves, then stops it, and fails unless it exits 0; its standard output
// and error are the command's. A first start so makes a store for the
// admin commands.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"serve-once": serveOnce,
		},
	})
}

func serveOnce(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! serve-once")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	// Relative paths are the script's: give the server absolute ones.
	for i, a := range args {
		if i > 0 && args[i-1] == "--data" && !strings.HasPrefix(a, "/") {
			args[i] = ts.MkAbs(a)
		}
	}
	args = append([]string{"server", "--listen", "127.0.0.1:0"}, args...)
	go func() { done <- run(ctx, args, strings.NewReader(""), out, errOut, ts.Getenv) }()
	deadline := time.After(30 * time.Second)
	for !servingLine.MatchString(out.String()) {
		select {
		case code := <-done:
			fmt.Fprint(ts.Stdout(), out.String())
			fmt.Fprint(ts.Stderr(), errOut.String())
			ts.Fatalf("server exited with %d before serving", code)
		case <-deadline:
			ts.Fatalf("server did not serve within 30 s; stdout %q, stderr %q", out.String(), errOut.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	code := <-done
	fmt.Fprint(ts.Stdout(), out.String())
	fmt.Fprint(ts.Stderr(), errOut.String())
	if code != 0 {
		ts.Fatalf("server exited with %d", code)
	}
}
