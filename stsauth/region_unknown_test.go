package stsauth_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/stsauth"
)

// TestUnknownRegion checks what a login signed for a region that does not
// exist is told: that the region is unknown (400), not that STS is down;
// while a known region whose STS host does not resolve here is an outage
// of this server (503), and a malformed region name is named as such.
func TestUnknownRegion(t *testing.T) {
	nxdomain := func(host *string) *http.Transport {
		return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			*host = addr
			return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
		}}
	}
	for _, tc := range []struct {
		name, endpoint, region string
		code                   cerberus.ErrorCode
		want                   string
	}{
		{"Unknown", "", "xx-bogus-1", cerberus.ECodeBadRequest,
			"Request will not be completed. The region xx-bogus-1 is unknown: AWS has no STS endpoint sts.xx-bogus-1.amazonaws.com."},
		{"UnknownAtRegionalEndpoint", "https://sts.{region}.vpce.example", "eu-nowhere-9", cerberus.ECodeBadRequest,
			"The region eu-nowhere-9 is unknown"},
		{"KnownRegionDNSFailure", "", "us-west-2", cerberus.ECodeUnavailable, "Service is unavailable"},
		{"EndpointWithoutRegion", "https://sts.vpce.example", "xx-bogus-1", cerberus.ECodeUnavailable, "Service is unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dialed string
			c, s := mustClient(t, stsauth.Config{Endpoint: tc.endpoint, Transport: nxdomain(&dialed)})
			h := sdkSign(t, session, tc.region, time.Now(), false)
			_, err := c.GetCallerIdentity(context.Background(), h)
			se := checkError(t, err, tc.code, h)
			if msg := cerberus.Message(err); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q (dialed %s)", msg, tc.want, dialed)
			}
			if !strings.Contains(se.Reason(), "no such host") {
				t.Errorf("reason %q does not give the DNS answer", se.Reason())
			}
			if n := len(s.get()); n != 0 {
				t.Errorf("slept %d times, want no retry", n)
			}
		})
	}
	t.Run("Malformed", func(t *testing.T) {
		_, err := stsauth.RegionHost("us-west")
		want := `Request will not be completed. Invalid region supplied: "us-west" is not an AWS region name, such as us-west-2.`
		if cerberus.Code(err) != cerberus.ECodeBadRequest || cerberus.Message(err) != want {
			t.Errorf("RegionHost(us-west) = %v (message %q); want ECodeBadRequest and %q", err, cerberus.Message(err), want)
		}
	})
}
