package stsauth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/stsauth"
)

const sig = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

func TestParseAuthorization(t *testing.T) {
	cred := "Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request"
	want := stsauth.Authorization{
		AccessKeyID: "AKIDEXAMPLE", Date: "20150830", Region: "us-east-1", Service: "sts",
		SignedHeaders: []string{"host", "x-amz-date"}, Signature: sig,
	}
	ok := []struct {
		name, in string
		want     stsauth.Authorization
	}{
		{"SDK", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date, Signature=" + sig, want},
		{"NoSpaces", "AWS4-HMAC-SHA256 " + cred + ",SignedHeaders=host;x-amz-date,Signature=" + sig, want},
		{"ExtraSpaces", "AWS4-HMAC-SHA256   " + cred + " ,  SignedHeaders=host;x-amz-date ,Signature=" + sig + "  ", want},
		{"OtherOrder", "AWS4-HMAC-SHA256 Signature=" + sig + ", SignedHeaders=host;x-amz-date, " + cred, want},
		{"Token", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=" + sig,
			func() stsauth.Authorization {
				a := want
				a.SignedHeaders = []string{"host", "x-amz-date", "x-amz-security-token"}
				return a
			}()},
		{"ContentType", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;host;x-amz-date, Signature=" + sig,
			func() stsauth.Authorization {
				a := want
				a.SignedHeaders = []string{"content-type", "host", "x-amz-date"}
				return a
			}()},
		{"China", "AWS4-HMAC-SHA256 Credential=ASIA0123456789ABCDEF/20240229/cn-northwest-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			stsauth.Authorization{AccessKeyID: "ASIA0123456789ABCDEF", Date: "20240229", Region: "cn-northwest-1", Service: "sts",
				SignedHeaders: []string{"host", "x-amz-date"}, Signature: sig}},
		{"GovCloud", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-gov-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			func() stsauth.Authorization { a := want; a.Region = "us-gov-west-1"; return a }()},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stsauth.ParseAuthorization(tt.in)
			if err != nil {
				t.Fatalf("ParseAuthorization(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseAuthorization(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			again, err := stsauth.ParseAuthorization(got.Header())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParseAuthorization(Header()) = %v, %v; want it back", again, err)
			}
		})
	}

	base := func(cred, signed, signature string) string {
		return "AWS4-HMAC-SHA256 Credential=" + cred + ", SignedHeaders=" + signed + ", Signature=" + signature
	}
	const goodCred, goodSigned = "AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request", "host;x-amz-date"
	bad := []struct{ name, in string }{
		{"Empty", ""},
		{"AlgorithmOnly", "AWS4-HMAC-SHA256"},
		{"AlgorithmSpace", "AWS4-HMAC-SHA256 "},
		{"OtherAlgorithm", strings.Replace(base(goodCred, goodSigned, sig), "SHA256", "SHA512", 1)},
		{"LowercaseAlgorithm", strings.Replace(base(goodCred, goodSigned, sig), "AWS4-HMAC-SHA256", "aws4-hmac-sha256", 1)},
		{"SigV2", "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="},
		{"Bearer", "Bearer abc"},
		{"NoSpaceAfterAlgorithm", strings.Replace(base(goodCred, goodSigned, sig), "SHA256 ", "SHA256", 1)},
		{"MissingCredential", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=" + sig},
		{"MissingSignedHeaders", "AWS4-HMAC-SHA256 Credential=" + goodCred + ", Signature=" + sig},
		{"MissingSignature", "AWS4-HMAC-SHA256 Credential=" + goodCred + ", SignedHeaders=host;x-amz-date"},
		{"DuplicateCredential", base(goodCred, goodSigned, sig) + ", Credential=" + goodCred},
		{"DuplicateSignature", base(goodCred, goodSigned, sig) + ", Signature=" + sig},
		{"DuplicateSignedHeaders", base(goodCred, goodSigned, sig) + ", SignedHeaders=" + goodSigned},
		{"UnknownComponent", base(goodCred, goodSigned, sig) + ", Foo=" + sig},
		{"TrailingComma", base(goodCred, goodSigned, sig) + ","},
		{"LeadingComma", "AWS4-HMAC-SHA256 ," + strings.TrimPrefix(base(goodCred, goodSigned, sig), "AWS4-HMAC-SHA256 ")},
		{"SpaceBeforeEquals", strings.Replace(base(goodCred, goodSigned, sig), "Credential=", "Credential =", 1)},
		{"LowercaseKey", strings.Replace(base(goodCred, goodSigned, sig), "Credential=", "credential=", 1)},
		{"TabSeparator", strings.Replace(base(goodCred, goodSigned, sig), ", ", ",\t", 1)},
		{"CredentialFourParts", base("AKIDEXAMPLE/20150830/us-east-1/sts", goodSigned, sig)},
		{"CredentialSixParts", base("AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request/x", goodSigned, sig)},
		{"EmptyKeyID", base("/20150830/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"KeyIDWithDot", base("AKID.EXAMPLE/20150830/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"KeyIDTooLong", base(strings.Repeat("A", 129)+"/20150830/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"ShortDate", base("AKIDEXAMPLE/2015083/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"DateNotADate", base("AKIDEXAMPLE/20151332/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"DateLetters", base("AKIDEXAMPLE/2015O830/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"DateTime", base("AKIDEXAMPLE/20150830T000000Z/us-east-1/sts/aws4_request", goodSigned, sig)},
		{"EmptyRegion", base("AKIDEXAMPLE/20150830//sts/aws4_request", goodSigned, sig)},
		{"HostileRegion", base("AKIDEXAMPLE/20150830/us-east-1.evil.com/sts/aws4_request", goodSigned, sig)},
		{"UppercaseRegion", base("AKIDEXAMPLE/20150830/US-EAST-1/sts/aws4_request", goodSigned, sig)},
		{"ServiceS3", base("AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request", goodSigned, sig)},
		{"ServiceUppercase", base("AKIDEXAMPLE/20150830/us-east-1/STS/aws4_request", goodSigned, sig)},
		{"BadTerminator", base("AKIDEXAMPLE/20150830/us-east-1/sts/aws4_requests", goodSigned, sig)},
		{"SignedUppercase", base(goodCred, "Host;X-Amz-Date", sig)},
		{"SignedUnsorted", base(goodCred, "x-amz-date;host", sig)},
		{"SignedDuplicate", base(goodCred, "host;host;x-amz-date", sig)},
		{"SignedEmptyName", base(goodCred, "host;;x-amz-date", sig)},
		{"SignedTrailingSemicolon", base(goodCred, "host;x-amz-date;", sig)},
		{"SignedNoHost", base(goodCred, "x-amz-date", sig)},
		{"SignedNoDate", base(goodCred, "host", sig)},
		{"SignedEmpty", base(goodCred, "", sig)},
		{"SignedOddChars", base(goodCred, "host;x-amz-date;x_y", sig)},
		{"SignedTooMany", base(goodCred, "a;b;c;d;e;f;g;h;host;i;j;k;l;m;n;o;x-amz-date", sig)},
		{"SignatureShort", base(goodCred, goodSigned, sig[:63])},
		{"SignatureLong", base(goodCred, goodSigned, sig+"0")},
		{"SignatureUppercase", base(goodCred, goodSigned, strings.ToUpper(sig))},
		{"SignatureNotHex", base(goodCred, goodSigned, strings.Repeat("g", 64))},
		{"SignatureEmpty", base(goodCred, goodSigned, "")},
		{"TooLong", base(goodCred, goodSigned, sig) + strings.Repeat(" ", 2048)},
		{"NUL", base(goodCred, goodSigned, sig) + "\x00"},
		{"Newline", base(goodCred, goodSigned, sig) + "\r\nX-Evil: 1"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stsauth.ParseAuthorization(tt.in)
			if err == nil {
				t.Fatalf("ParseAuthorization(%q) = %v, want an error", tt.in, got)
			}
			var se *stsauth.Error
			if !errors.As(err, &se) || cerberus.Code(err) != cerberus.ECodeBadRequest {
				t.Fatalf("ParseAuthorization(%q) error %v (%T), want an *Error with code %d", tt.in, err, err, cerberus.ECodeBadRequest)
			}
			if strings.Contains(se.Reason(), sig[:16]) || strings.Contains(err.Error(), sig[:16]) ||
				strings.Contains(cerberus.Message(err), sig[:16]) {
				t.Errorf("the error %q holds the signature", se.Reason())
			}
		})
	}
}
