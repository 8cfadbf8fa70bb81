package stsauth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/stsauth"
)

func TestParseARN(t *testing.T) {
	ok := []struct {
		in   string
		want stsauth.ARN
	}{
		{"arn:aws:iam::123456789012:root",
			stsauth.ARN{Partition: "aws", Service: "iam", Account: "123456789012", Type: stsauth.TypeRoot}},
		{"arn:aws:iam::123456789012:role/app",
			stsauth.ARN{Partition: "aws", Service: "iam", Account: "123456789012", Type: stsauth.TypeRole, Path: "/", Name: "app"}},
		{"arn:aws:iam::123456789012:role/team/prod/app",
			stsauth.ARN{Partition: "aws", Service: "iam", Account: "123456789012", Type: stsauth.TypeRole, Path: "/team/prod/", Name: "app"}},
		{"arn:aws:iam::123456789012:user/alice",
			stsauth.ARN{Partition: "aws", Service: "iam", Account: "123456789012", Type: stsauth.TypeUser, Path: "/", Name: "alice"}},
		{"arn:aws:iam::123456789012:user/division/alice",
			stsauth.ARN{Partition: "aws", Service: "iam", Account: "123456789012", Type: stsauth.TypeUser, Path: "/division/", Name: "alice"}},
		{"arn:aws:sts::123456789012:assumed-role/app/i-0abc123",
			stsauth.ARN{Partition: "aws", Service: "sts", Account: "123456789012", Type: stsauth.TypeAssumedRole, Name: "app", Session: "i-0abc123"}},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123abcd/jane.doe@example.com",
			stsauth.ARN{Partition: "aws", Service: "sts", Account: "123456789012", Type: stsauth.TypeAssumedRole,
				Name: "AWSReservedSSO_Admin_0123abcd", Session: "jane.doe@example.com"}},
		{"arn:aws:sts::123456789012:federated-user/bob",
			stsauth.ARN{Partition: "aws", Service: "sts", Account: "123456789012", Type: stsauth.TypeFederatedUser, Name: "bob"}},
		{"arn:aws-cn:sts::123456789012:assumed-role/r/s",
			stsauth.ARN{Partition: "aws-cn", Service: "sts", Account: "123456789012", Type: stsauth.TypeAssumedRole, Name: "r", Session: "s"}},
		{"arn:aws-us-gov:iam::000000000000:role/a+b=c,d.e@f_g-h",
			stsauth.ARN{Partition: "aws-us-gov", Service: "iam", Account: "000000000000", Type: stsauth.TypeRole, Path: "/", Name: "a+b=c,d.e@f_g-h"}},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 64),
			stsauth.ARN{Partition: "aws", Service: "iam", Account: "123456789012", Type: stsauth.TypeRole, Path: "/", Name: strings.Repeat("r", 64)}},
	}
	for _, tt := range ok {
		got, err := stsauth.ParseARN(tt.in)
		if err != nil {
			t.Errorf("ParseARN(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseARN(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.in {
			t.Errorf("ParseARN(%q).String() = %q", tt.in, s)
		}
	}

	bad := []string{
		"",
		"arn",
		"arn:aws:iam::123456789012",
		"arn:aws:iam::123456789012:",
		"ARN:aws:iam::123456789012:root",
		"arn:AWS:iam::123456789012:root",
		"arn:aws-iso:iam::123456789012:root",  // partition we do not serve
		"arn:aws-eusc:iam::123456789012:root", // idem
		"arn:azure:iam::123456789012:root",
		"arn::iam::123456789012:root",
		"arn:aws:s3::123456789012:root",
		"arn:aws:IAM::123456789012:root",
		"arn:aws:iam:us-east-1:123456789012:root",
		"arn:aws:iam::12345678901:root",   // 11 digits
		"arn:aws:iam::1234567890123:root", // 13 digits
		"arn:aws:iam::12345678901a:root",
		"arn:aws:iam:::root",
		"arn:aws:iam::123456789012:root/",
		"arn:aws:iam::123456789012:root/x",
		"arn:aws:iam::123456789012:Root",
		"arn:aws:iam::123456789012:role",
		"arn:aws:iam::123456789012:role/",
		"arn:aws:iam::123456789012:role//app",
		"arn:aws:iam::123456789012:role/a//app",
		"arn:aws:iam::123456789012:role/app/",
		"arn:aws:iam::123456789012:role/*",
		"arn:aws:iam::123456789012:role/app*",
		"arn:aws:iam::123456789012:role/ap?",
		"arn:aws:iam::123456789012:role/app name",
		"arn:aws:iam::123456789012:role/app\t",
		"arn:aws:iam::123456789012:role/app\n",
		"arn:aws:iam::123456789012:role/app\x00",
		"arn:aws:iam::123456789012:role/appé",
		"arn:aws:iam::123456789012:role/аpp", // Cyrillic a
		"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65),
		"arn:aws:iam::123456789012:role/a:b",
		"arn:aws:iam::123456789012:group/devs",
		"arn:aws:iam::123456789012:policy/p",
		"arn:aws:iam::123456789012:assumed-role/r/s",
		"arn:aws:iam::123456789012:federated-user/bob",
		"arn:aws:sts::123456789012:root",
		"arn:aws:sts::123456789012:role/app",
		"arn:aws:sts::123456789012:user/alice",
		"arn:aws:sts::123456789012:assumed-role/app",
		"arn:aws:sts::123456789012:assumed-role/app/",
		"arn:aws:sts::123456789012:assumed-role//s",
		"arn:aws:sts::123456789012:assumed-role/path/app/s",
		"arn:aws:sts::123456789012:assumed-role/app/s/",
		"arn:aws:sts::123456789012:assumed-role/app/*",
		"arn:aws:sts::123456789012:federated-user/",
		"arn:aws:sts::123456789012:federated-user/a/b",
		" arn:aws:iam::123456789012:root",
		"arn:aws:iam::123456789012:root ",
		"arn:aws:iam::123456789012:role/" + strings.Repeat("p/", 1100) + "app",
	}
	for _, in := range bad {
		if got, err := stsauth.ParseARN(in); err == nil {
			t.Errorf("ParseARN(%q) = %#v, want an error", in, got)
		} else if !strings.HasPrefix(err.Error(), "stsauth: ") {
			t.Errorf("ParseARN(%q) error %q lacks the stsauth: prefix", in, err)
		}
	}
}

func TestGrantCandidates(t *testing.T) {
	tests := []struct {
		arn  string
		want []string
	}{
		{"arn:aws:sts::123456789012:assumed-role/app/i-0abc", []string{
			"arn:aws:sts::123456789012:assumed-role/app/i-0abc",
			"arn:aws:iam::123456789012:role/app",
			"arn:aws:iam::123456789012:root",
		}},
		{"arn:aws-cn:sts::123456789012:assumed-role/app/s", []string{
			"arn:aws-cn:sts::123456789012:assumed-role/app/s",
			"arn:aws-cn:iam::123456789012:role/app",
			"arn:aws-cn:iam::123456789012:root",
		}},
		// A user is covered by itself and its account root only; never by a
		// role of the same name (the original server's quirk).
		{"arn:aws:iam::123456789012:user/app", []string{
			"arn:aws:iam::123456789012:user/app",
			"arn:aws:iam::123456789012:root",
		}},
		{"arn:aws-us-gov:iam::123456789012:user/division/alice", []string{
			"arn:aws-us-gov:iam::123456789012:user/division/alice",
			"arn:aws-us-gov:iam::123456789012:user/alice",
			"arn:aws-us-gov:iam::123456789012:root",
		}},
		{"arn:aws:iam::123456789012:role/app", []string{
			"arn:aws:iam::123456789012:role/app",
			"arn:aws:iam::123456789012:root",
		}},
		{"arn:aws:iam::123456789012:role/p/app", []string{
			"arn:aws:iam::123456789012:role/p/app",
			"arn:aws:iam::123456789012:role/app",
			"arn:aws:iam::123456789012:root",
		}},
		{"arn:aws:sts::123456789012:federated-user/bob", []string{
			"arn:aws:sts::123456789012:federated-user/bob",
			"arn:aws:iam::123456789012:root",
		}},
		{"arn:aws:iam::123456789012:root", []string{"arn:aws:iam::123456789012:root"}},
	}
	for _, tt := range tests {
		a, err := stsauth.ParseARN(tt.arn)
		if err != nil {
			t.Fatalf("ParseARN(%q): %v", tt.arn, err)
		}
		if got := a.GrantCandidates(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s.GrantCandidates() = %q, want %q", tt.arn, got, tt.want)
		}
	}
}

func TestBaseRole(t *testing.T) {
	tests := []struct {
		arn, want string
		ok        bool
	}{
		{"arn:aws:sts::123456789012:assumed-role/app/s", "arn:aws:iam::123456789012:role/app", true},
		{"arn:aws-cn:sts::123456789012:assumed-role/app/s", "arn:aws-cn:iam::123456789012:role/app", true},
		{"arn:aws:iam::123456789012:role/app", "arn:aws:iam::123456789012:role/app", true},
		{"arn:aws:iam::123456789012:role/p/app", "arn:aws:iam::123456789012:role/app", true},
		{"arn:aws:iam::123456789012:user/app", "", false},
		{"arn:aws:sts::123456789012:federated-user/app", "", false},
		{"arn:aws:iam::123456789012:root", "", false},
	}
	for _, tt := range tests {
		a, err := stsauth.ParseARN(tt.arn)
		if err != nil {
			t.Fatalf("ParseARN(%q): %v", tt.arn, err)
		}
		if got, ok := a.BaseRole(); got != tt.want || ok != tt.ok {
			t.Errorf("%s.BaseRole() = %q, %v; want %q, %v", tt.arn, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidateGrantARN(t *testing.T) {
	for _, in := range []string{
		"arn:aws:iam::123456789012:root",
		"arn:aws:iam::123456789012:role/app",
		"arn:aws:iam::123456789012:user/alice",
		"arn:aws:sts::123456789012:assumed-role/app/session",
		"arn:aws:sts::123456789012:federated-user/bob",
		"arn:aws-cn:iam::123456789012:role/app",
		"arn:aws-us-gov:iam::123456789012:role/app",
	} {
		if err := stsauth.ValidateGrantARN(in); err != nil {
			t.Errorf("ValidateGrantARN(%q): %v", in, err)
		}
	}
	bad := []struct {
		in   string
		says string // a part of the message
	}{
		{"", "empty"},
		{"arn:aws:iam::123456789012:role/team/app", `Grant "arn:aws:iam::123456789012:role/app" instead`},
		{"arn:aws:iam::123456789012:role/a/b/app", `IAM path "/a/b/"`},
		{"arn:aws:iam::123456789012:user/a/b", `Grant "arn:aws:iam::123456789012:user/b" instead`},
		{"arn:aws:iam::123456789012:role/*", "wildcard"},
		{"arn:aws:iam::*:root", "wildcard"},
		{"arn:aws:sts::123456789012:assumed-role/app/*", "wildcard"},
		{"arn:aws:iam::123456789012:role/app?", "wildcard"},
		{"arn:aws:iam::123456789012:role/app ", "whitespace"},
		{" arn:aws:iam::123456789012:role/app", "whitespace"},
		{"arn:aws:iam::123456789012:role/a\tpp", "whitespace"},
		{"arn:aws:iam::123456789012:role/app\n", "whitespace"},
		{"arn:aws:iam::123456789012:role/app\x00", "control"},
		{"arn:aws:iam::123456789012:role/appé", "non-ASCII"},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("a", 230), "longer than 255 bytes"},
		{"arn:aws:iam::12345678901:root", "12 digits"},
		{"arn:aws:iam::1234567890123:root", "12 digits"},
		{"arn:aws-iso:iam::123456789012:root", "partition"},
		{"arn:aws:iam::123456789012:assumed-role/app/s", "sts service"},
		{"arn:aws:sts::123456789012:role/app", "iam service"},
		{"arn:aws:iam::123456789012:group/devs", "Expected arn:aws:iam::"},
		{"arn:aws:iam::123456789012:role/", "role name"},
		{"arn:aws:sts::123456789012:assumed-role/app", "assumed-role"},
		{"arn:aws:sts::123456789012:assumed-role/app/s/x", "assumed-role"},
		{"role/app", "Expected"},
	}
	for _, tt := range bad {
		err := stsauth.ValidateGrantARN(tt.in)
		var ce *cerberus.Error
		if !errors.As(err, &ce) || ce.Code != cerberus.ECodeIAMARNInvalid {
			t.Errorf("ValidateGrantARN(%q) = %v, want a *cerberus.Error with code %d", tt.in, err, cerberus.ECodeIAMARNInvalid)
			continue
		}
		if !strings.Contains(ce.Message, tt.says) {
			t.Errorf("ValidateGrantARN(%q) message %q does not say %q", tt.in, ce.Message, tt.says)
		}
	}
}
