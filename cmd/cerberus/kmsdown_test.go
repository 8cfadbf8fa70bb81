//go:build unix

package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus/internal/kmstest"
)

// TestStartWithKMSUnreachable starts a server on AWS KMS whose endpoint
// refuses connections, on a new store (the server keys must be sealed) and
// on a store made while KMS answered (they must be opened): the start fails
// with a message that says KMS could not be reached, not that the key is
// the wrong one.
func TestStartWithKMSUnreachable(t *testing.T) {
	west := kmstest.Start(t, "us-west-2")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALKMS")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-kms-ignores-signatures")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	arn := west.CreateKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	used := privateDir(t)
	if code, out, errOut := runServerOnce(t, "--data", used, "--kek", "awskms", "--kms-key-arns", arn, "--kms-endpoints", "us-west-2="+west.URL); code != 0 {
		t.Fatalf("start with KMS reachable: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for name, data := range map[string]string{"NewStore": privateDir(t), "ExistingStore": used} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runServerOnce(t, "--data", data, "--kek", "awskms", "--kms-key-arns", arn, "--kms-endpoints", "us-west-2="+closed)
			if code == 0 || !strings.Contains(errOut, "AWS KMS could not be reached") || !strings.Contains(errOut, "--kms-key-arns") ||
				strings.Contains(errOut, "is this the master key") || strings.Contains(errOut, "the keys the data was written with") {
				t.Errorf("start with KMS unreachable: exit %d, stdout %q, stderr %q; want a failure saying that KMS could not be reached", code, out, errOut)
			}
		})
	}
}
