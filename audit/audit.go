// Package audit records one event per API request as a JSON line: who did
// what to which SDB, and how it ended. Events never hold a secret value or a
// token; the reason for a refusal, which the caller is not told, is here.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// UnknownUser is the principal name of a failed login whose user name is
// not that of an existing user: what a caller types as a user name may be
// a password, and is not recorded.
const UnknownUser = "(unknown user)"

// Bounds, in bytes, of the fields an Event takes from its setters.
const (
	maxPrincipal = 512
	maxAction    = 1024
	maxSDB       = 128
	maxReason    = 1024
)

// Clean returns s fit for an audit field: at most max bytes (then cut at a
// character and ended with "…"), with control and format characters (such
// as ESC, newlines or bidirectional overrides) and bytes that are not
// UTF-8 written as escapes (\x1b, \u202e), so that a caller cannot forge
// or hide lines in whatever displays the log.
func Clean(s string, max int) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean && len(s) <= max {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var part string
		switch {
		case r == utf8.RuneError && size <= 1:
			part = fmt.Sprintf("\\x%02x", s[i])
		case r < 0x100 && unicode.IsControl(r):
			part = fmt.Sprintf("\\x%02x", r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			part = fmt.Sprintf("\\u%04x", r)
		default:
			part = s[i : i+size]
		}
		if b.Len()+len(part) > max {
			b.WriteString("…")
			break
		}
		b.WriteString(part)
		i += size
	}
	return b.String()
}

// Event is one audited request.
type Event struct {
	Time          time.Time `json:"time"`
	RequestID     string    `json:"request_id"`
	PrincipalType string    `json:"principal_type,omitempty"`
	PrincipalName string    `json:"principal_name,omitempty"`
	IsAdmin       bool      `json:"principal_is_admin"`
	ClientIP      string    `json:"client_ip"`
	XForwardedFor string    `json:"x_forwarded_for,omitempty"`
	Client        string    `json:"client_version,omitempty"`
	Method        string    `json:"http_method"`
	Path          string    `json:"path"`
	Action        string    `json:"action,omitempty"`
	SDBID         string    `json:"sdb_id,omitempty"`
	Status        int       `json:"status_code"`
	Success       bool      `json:"was_success"`
	Reason        string    `json:"reason,omitempty"`
	DurationMS    float64   `json:"duration_ms"`

	mu sync.Mutex
}

// SetPrincipal records who made the request. Like every setter, it bounds
// and cleans what it records (see Clean).
func (e *Event) SetPrincipal(typ, name string, isAdmin bool) {
	if e == nil {
		return
	}
	typ, name = Clean(typ, 16), Clean(name, maxPrincipal)
	e.mu.Lock()
	e.PrincipalType, e.PrincipalName, e.IsAdmin = typ, name, isAdmin
	e.mu.Unlock()
}

// SetAction records what the request did, in words.
func (e *Event) SetAction(action string) {
	if e == nil {
		return
	}
	action = Clean(action, maxAction)
	e.mu.Lock()
	e.Action = action
	e.mu.Unlock()
}

// SetSDB records the SDB the request touched.
func (e *Event) SetSDB(id string) {
	if e == nil {
		return
	}
	id = Clean(id, maxSDB)
	e.mu.Lock()
	e.SDBID = id
	e.mu.Unlock()
}

// SetReason records why the request failed, for the auditor's eyes only,
// or, for a request that succeeded, what an auditor should notice about it.
func (e *Event) SetReason(reason string) {
	if e == nil {
		return
	}
	reason = Clean(reason, maxReason)
	e.mu.Lock()
	e.Reason = reason
	e.mu.Unlock()
}

// LogValue gives the event's fields to a line of the server log, where an
// event that the audit log could not take is kept.
func (e *Event) LogValue() slog.Value {
	if e == nil {
		return slog.Value{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return slog.GroupValue(
		slog.Time("time", e.Time),
		slog.String("request_id", e.RequestID),
		slog.String("principal_type", e.PrincipalType),
		slog.String("principal_name", e.PrincipalName),
		slog.Bool("principal_is_admin", e.IsAdmin),
		slog.String("client_ip", e.ClientIP),
		slog.String("x_forwarded_for", e.XForwardedFor),
		slog.String("client_version", e.Client),
		slog.String("http_method", e.Method),
		slog.String("path", e.Path),
		slog.String("action", e.Action),
		slog.String("sdb_id", e.SDBID),
		slog.Int("status_code", e.Status),
		slog.Bool("was_success", e.Success),
		slog.String("reason", e.Reason),
		slog.Float64("duration_ms", e.DurationMS),
	)
}

type eventKey struct{}

// NewContext returns a context carrying e.
func NewContext(ctx context.Context, e *Event) context.Context {
	return context.WithValue(ctx, eventKey{}, e)
}

// FromContext returns the event of the request, or nil; the setters of a
// nil *Event do nothing.
func FromContext(ctx context.Context) *Event {
	e, _ := ctx.Value(eventKey{}).(*Event)
	return e
}

// Logger writes events as JSON lines.
type Logger struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLogger returns a Logger that writes to w.
func NewLogger(w io.Writer) *Logger {
	return &Logger{w: w}
}

// Log writes e as one JSON line.
func (l *Logger) Log(e *Event) error {
	e.mu.Lock()
	b, err := json.Marshal(e)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(b)
	return err
}
