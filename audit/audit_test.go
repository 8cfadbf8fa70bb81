package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus/audit"
)

func TestLoggerWritesOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	l := audit.NewLogger(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := &audit.Event{Time: time.Unix(0, 0).UTC(), Method: "GET", Path: "/v1/secret/app/x/y", Status: 403}
			ctx := audit.NewContext(context.Background(), e)
			audit.FromContext(ctx).SetPrincipal("USER", "alice", false)
			audit.FromContext(ctx).SetAction("read secret app/x/y")
			audit.FromContext(ctx).SetSDB("sdb-1")
			audit.FromContext(ctx).SetReason("no role")
			if err := l.Log(e); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"principal_name": "alice", "principal_type": "USER", "action": "read secret app/x/y",
		"sdb_id": "sdb-1", "reason": "no role", "status_code": 403.0, "was_success": false, "http_method": "GET"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestNilEventSettersDoNothing(t *testing.T) {
	e := audit.FromContext(context.Background())
	if e != nil {
		t.Fatal("FromContext of a bare context is not nil")
	}
	e.SetAction("x")
	e.SetSDB("x")
	e.SetReason("x")
	e.SetPrincipal("USER", "x", true)
}

// TestEventLogValue checks that the server log line of an event that the
// audit log could not take holds every field of the event, by its name in
// the audit log.
func TestEventLogValue(t *testing.T) {
	e := &audit.Event{Time: time.Unix(1, 0).UTC(), RequestID: "r-1", ClientIP: "192.0.2.1", XForwardedFor: "198.51.100.7",
		Client: "go/1", Method: "GET", Path: "/v1/secret/app/x/y", Status: 200, Success: true, DurationMS: 1.5}
	e.SetPrincipal("USER", "alice", true)
	e.SetAction("read secret")
	e.SetSDB("sdb-1")
	e.SetReason("why")
	var want map[string]any
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("lost", "event", e)
	var line struct {
		Event map[string]any `json:"event"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	for k, v := range want {
		if got, ok := line.Event[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("event.%s in the log line = %v, want %v (as in the audit log)", k, got, v)
		}
	}
	if len(line.Event) != len(want) {
		t.Errorf("the log line has %d fields of the event, the audit log %d: %v", len(line.Event), len(want), line.Event)
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"Plain", "alice@example.com", 64, "alice@example.com"},
		{"Empty", "", 64, ""},
		{"Newline", "eve\nforged line", 64, `eve\x0aforged line`},
		{"Escape", "\x1b[31mred", 64, `\x1b[31mred`},
		{"NUL and DEL", "a\x00b\x7f", 64, `a\x00b\x7f`},
		{"C1", "a\u0085b", 64, `a\x85b`},
		{"Bidi", "abc\u202etxt.exe", 64, `abc\u202etxt.exe`},
		{"InvalidUTF8", "a\xffb", 64, `a\xffb`},
		{"UTF8", "Zürich 東京", 64, "Zürich 東京"},
		{"Long", "abcdefghij", 4, "abcd…"},
		{"LongAtRune", "aé東", 3, "aé…"},
		{"LongEscape", "ab\n", 4, "ab…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := audit.Clean(tt.in, tt.max); got != tt.want {
				t.Errorf("Clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

func TestSettersClean(t *testing.T) {
	e := &audit.Event{}
	long := strings.Repeat("x", 100000)
	e.SetPrincipal("USER", "a\nb"+long, false)
	e.SetAction(long)
	e.SetSDB(long)
	e.SetReason("r\x1b" + long)
	var buf bytes.Buffer
	if err := audit.NewLogger(&buf).Log(e); err != nil {
		t.Fatal(err)
	}
	if n := buf.Len(); n > 4096 {
		t.Errorf("event of %d bytes from long setters, want at most 4096", n)
	}
	if e.PrincipalName[:4] != `a\x0` || e.Reason[:5] != `r\x1b` {
		t.Errorf("principal %.10q, reason %.10q: want control characters escaped", e.PrincipalName, e.Reason)
	}
}
