package stsauth_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/stsauth"
)

// FuzzParseAuthorization checks that ParseAuthorization never panics, that
// what it accepts is well formed and round-trips through Header, and that
// what it refuses is a 400 99999.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig)
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/cn-north-1/sts/aws4_request,SignedHeaders=host;x-amz-date;x-amz-security-token,Signature=" + sig)
	f.Add("AWS4-HMAC-SHA256 Signature=" + sig + ", SignedHeaders=host;x-amz-date, Credential=A/20150830/us-gov-west-1/sts/aws4_request")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2.evil.com/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig)
	f.Add("Bearer abc")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := stsauth.ParseAuthorization(s)
		if err != nil {
			var se *stsauth.Error
			if !errors.As(err, &se) || cerberus.Code(err) != cerberus.ECodeBadRequest || se.Reason() == "" {
				t.Fatalf("ParseAuthorization(%q) error %v, want an *Error with code %d and a reason", s, err, cerberus.ECodeBadRequest)
			}
			return
		}
		if len(s) > stsauth.MaxAuthorizationLength {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if _, err := stsauth.RegionHost(a.Region); err != nil {
			t.Fatalf("accepted the region %q: %v", a.Region, err)
		}
		if a.Service != "sts" || len(a.Signature) != 64 || strings.ToLower(a.Signature) != a.Signature ||
			!slices.IsSorted(a.SignedHeaders) || !a.Signs("host") || !a.Signs("x-amz-date") {
			t.Fatalf("accepted %q as %#v", s, a)
		}
		h := a.Header()
		again, err := stsauth.ParseAuthorization(h)
		if err != nil || !reflect.DeepEqual(again, a) || again.Header() != h {
			t.Fatalf("Header() = %q reparses as %#v, %v; want %#v", h, again, err, a)
		}
		if strings.Contains(a.String(), a.Signature) {
			t.Fatalf("String() %q shows the signature", a.String())
		}
	})
}

// FuzzParseARN checks that ParseARN never panics, that what it accepts is
// canonical (String gives the input back) with consistent grant
// candidates, and that ValidateGrantARN accepts only parsable path-less
// ARNs and fails only with ECodeIAMARNInvalid.
func FuzzParseARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::123456789012:root",
		"arn:aws:iam::123456789012:role/app",
		"arn:aws:iam::123456789012:role/a/b/app",
		"arn:aws:iam::123456789012:user/alice",
		"arn:aws-cn:sts::123456789012:assumed-role/app/session",
		"arn:aws-us-gov:sts::123456789012:federated-user/bob",
		"arn:aws:iam::123456789012:role/*",
		"arn:aws:iam::12345678901:root",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		verr := stsauth.ValidateGrantARN(s)
		if verr != nil {
			var ce *cerberus.Error
			if !errors.As(verr, &ce) || ce.Code != cerberus.ECodeIAMARNInvalid || ce.Message == "" {
				t.Fatalf("ValidateGrantARN(%q) = %v, want a *cerberus.Error with code %d", s, verr, cerberus.ECodeIAMARNInvalid)
			}
		}
		a, err := stsauth.ParseARN(s)
		if err != nil {
			if verr == nil {
				t.Fatalf("ValidateGrantARN accepted %q, which ParseARN refuses: %v", s, err)
			}
			return
		}
		if got := a.String(); got != s {
			t.Fatalf("ParseARN(%q).String() = %q", s, got)
		}
		if verr == nil && (a.HasPath() || len(s) > stsauth.MaxGrantARNLength) {
			t.Fatalf("ValidateGrantARN accepted %q", s)
		}
		c := a.GrantCandidates()
		if len(c) == 0 || c[0] != s || c[len(c)-1] != a.Root() {
			t.Fatalf("%q.GrantCandidates() = %q", s, c)
		}
		for _, g := range c {
			b, err := stsauth.ParseARN(g)
			if err != nil || b.Account != a.Account || b.Partition != a.Partition {
				t.Fatalf("candidate %q of %q: %#v, %v", g, s, b, err)
			}
		}
		if role, ok := a.BaseRole(); ok {
			if b, err := stsauth.ParseARN(role); err != nil || b.Type != stsauth.TypeRole || b.HasPath() {
				t.Fatalf("BaseRole of %q = %q (%v)", s, role, err)
			}
		}
	})
}
