package cerberus_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
)

func TestParseSecretPath(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		in      string
		want    cerberus.SecretPath
		wantErr bool
	}{
		{"app/my-sdb/db/creds", cerberus.SecretPath{"app", "my-sdb", "db/creds"}, false},
		{"/app/my-sdb/db/creds/", cerberus.SecretPath{"app", "my-sdb", "db/creds"}, false},
		{"app/my-sdb", cerberus.SecretPath{"app", "my-sdb", ""}, false},
		{"app/my-sdb/", cerberus.SecretPath{"app", "my-sdb", ""}, false},
		{"shared/S_1/a b/ünïcode/%x", cerberus.SecretPath{"shared", "S_1", "a b/ünïcode/%x"}, false},
		{"app/sdb/" + long[:255-len("sdb/")], cerberus.SecretPath{"app", "sdb", long[:251]}, false},
		{"app/sdb/" + long[:256-len("sdb/")], cerberus.SecretPath{}, true},
		{"", cerberus.SecretPath{}, true},
		{"app", cerberus.SecretPath{}, true},
		{"app/", cerberus.SecretPath{}, true},
		{"/app//x", cerberus.SecretPath{}, true},
		{"app/sdb//x", cerberus.SecretPath{}, true},
		{"app/sdb/../x", cerberus.SecretPath{}, true},
		{"app/sdb/./x", cerberus.SecretPath{}, true},
		{"app/sdb/x/..", cerberus.SecretPath{}, true},
		{"app/s.db/x", cerberus.SecretPath{}, true},
		{"a%p/sdb/x", cerberus.SecretPath{}, true},
		{"app/sdb/x\x00y", cerberus.SecretPath{}, true},
		{"app/sdb/x\ny", cerberus.SecretPath{}, true},
		{"app/sdb/x\x7f", cerberus.SecretPath{}, true},
		{"app/sdb/x\u0085", cerberus.SecretPath{}, true},
		{"app/sdb/x\\y", cerberus.SecretPath{}, true},
		{"app/sdb/\xff", cerberus.SecretPath{}, true},
		{strings.Repeat("a/", 600), cerberus.SecretPath{}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := cerberus.ParseSecretPath(tt.in)
			if tt.wantErr {
				if cerberus.Code(err) != cerberus.ECodeBadRequest {
					t.Fatalf("ParseSecretPath(%q) = %+v, %v; want ECodeBadRequest", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSecretPath(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSecretPathForms(t *testing.T) {
	p := cerberus.SecretPath{Category: "app", SDBSlug: "sdb", Sub: "a/b"}
	if p.SDBPath() != "app/sdb/" || p.Stored() != "sdb/a/b" || p.String() != "app/sdb/a/b" {
		t.Fatalf("forms of %+v = %q %q %q", p, p.SDBPath(), p.Stored(), p.String())
	}
}

func TestParseSecretBody(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		rule cerberus.BodyRule
		code cerberus.ErrorCode
	}{
		{`{"a":"b"}`, 100, cerberus.BodyObject, 0},
		{" \n{\"a\":{\"b\":[1,2]}} \n", 100, cerberus.BodyObject, 0},
		{`{}`, 100, cerberus.BodyObject, 0},
		{`{"a":"b"}`, 5, cerberus.BodyObject, cerberus.ECodeTooLarge},
		{``, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`   `, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`[1]`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`"s"`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`1`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`null`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`{`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`{}x`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`{}{}`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{"{\"a\":\"\xff\"}", 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		{`a=b&c=d`, 100, cerberus.BodyObject, cerberus.ECodeBadRequest},
		// The original's rule: anything within the limit.
		{`a=b&c=d`, 100, cerberus.BodyAny, 0},
		{``, 100, cerberus.BodyAny, 0},
		{`[1]`, 100, cerberus.BodyAny, 0},
		{"\xff\x00", 100, cerberus.BodyAny, 0},
		{`{"a":"b"}`, 5, cerberus.BodyAny, cerberus.ECodeTooLarge},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := cerberus.ParseSecretBody([]byte(tt.in), tt.max, tt.rule)
			if cerberus.Code(err) != tt.code {
				t.Fatalf("ParseSecretBody(%q) error %v, want code %d", tt.in, err, tt.code)
			}
			if err == nil && string(got.Reveal()) != tt.in {
				t.Fatalf("ParseSecretBody(%q) = %q, want the body unchanged", tt.in, got.Reveal())
			}
		})
	}
}

func TestSecretTypesRedact(t *testing.T) {
	const secret = "hunter2-very-secret"
	data := cerberus.SecretData(`{"pw":"` + secret + `"}`)
	tok := cerberus.Token(secret)
	var logged strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("x", "data", data, "token", tok)
	j, _ := json.Marshal(map[string]any{"data": data, "token": tok})
	for _, s := range []string{
		fmt.Sprint(data, tok), fmt.Sprintf("%v %+v %#v %s %q %x", data, data, data, data, data, data),
		fmt.Sprintf("%v %+v %#v %s %q %x", tok, tok, tok, tok, tok, tok), logged.String(), string(j),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("output %q reveals the secret", s)
		}
	}
	if string(data.Reveal()) != `{"pw":"`+secret+`"}` || tok.Reveal() != secret {
		t.Error("Reveal does not return the value")
	}
}

func TestErrorCode(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", cerberus.Errorf(cerberus.ECodeNotFound, "gone %d", 1))
	if cerberus.Code(err) != cerberus.ECodeNotFound || cerberus.Message(err) != "gone 1" {
		t.Errorf("Code, Message = %d, %q", cerberus.Code(err), cerberus.Message(err))
	}
	plain := fmt.Errorf("db down")
	if cerberus.Code(plain) != cerberus.ECodeInternal || strings.Contains(cerberus.Message(plain), "db") {
		t.Errorf("plain error: Code %d, Message %q; want internal and generic", cerberus.Code(plain), cerberus.Message(plain))
	}
	if cerberus.Code(nil) != 0 {
		t.Error("Code(nil) != 0")
	}
}

func TestNewID(t *testing.T) {
	id := cerberus.NewID()
	if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || id == cerberus.NewID() {
		t.Errorf("NewID() = %q, want a random version 4 UUID", id)
	}
}

func FuzzParseSecretPath(f *testing.F) {
	for _, s := range []string{"app/sdb/a/b", "app/sdb", "app/sdb/../x", "a//b", "app/sdb/\x00", "/app/sdb/x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := cerberus.ParseSecretPath(in)
		if err != nil {
			if cerberus.Code(err) != cerberus.ECodeBadRequest {
				t.Fatalf("error code %d, want ECodeBadRequest", cerberus.Code(err))
			}
			return
		}
		// A parsed path is canonical: it parses to itself and holds no
		// traversal, empty segment or control character.
		again, err := cerberus.ParseSecretPath(p.String())
		if err != nil || again != p {
			t.Fatalf("reparse of %q = %+v, %v; want %+v", p.String(), again, err, p)
		}
		if len(p.Stored()) > cerberus.MaxStoredPathLength {
			t.Fatalf("stored path of %d bytes", len(p.Stored()))
		}
		for _, seg := range strings.Split(p.String(), "/") {
			if seg == "" && p.Sub != "" || seg == "." || seg == ".." {
				t.Fatalf("bad segment %q in %q", seg, p.String())
			}
		}
		if strings.ContainsFunc(p.String(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("control character in %q", p.String())
		}
	})
}

func FuzzParseSecretBody(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `[]`, `{`, `{}x`, "{\"\xff\":1}", ` {"a":{"b":[null,true,1.5e3]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := cerberus.ParseSecretBody(in, 1024, cerberus.BodyObject)
		if err != nil {
			if c := cerberus.Code(err); c != cerberus.ECodeBadRequest && c != cerberus.ECodeTooLarge {
				t.Fatalf("error code %d", c)
			}
			return
		}
		var obj map[string]any
		if json.Unmarshal(got.Reveal(), &obj) != nil || obj == nil {
			t.Fatalf("accepted %q, which is not a JSON object", in)
		}
	})
}
