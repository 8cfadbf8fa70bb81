package stsauth_test

import (
	"strings"
	"testing"

	"github.com/cerberus-go/cerberus"
	"github.com/cerberus-go/cerberus/stsauth"
)

func TestRegionHost(t *testing.T) {
	ok := []struct{ region, partition, host string }{
		{"us-east-1", "aws", "sts.us-east-1.amazonaws.com"},
		{"us-west-2", "aws", "sts.us-west-2.amazonaws.com"},
		{"eu-west-1", "aws", "sts.eu-west-1.amazonaws.com"},
		{"eu-central-2", "aws", "sts.eu-central-2.amazonaws.com"},
		{"ap-southeast-5", "aws", "sts.ap-southeast-5.amazonaws.com"},
		{"ap-northeast-3", "aws", "sts.ap-northeast-3.amazonaws.com"},
		{"sa-east-1", "aws", "sts.sa-east-1.amazonaws.com"},
		{"ca-west-1", "aws", "sts.ca-west-1.amazonaws.com"},
		{"me-central-1", "aws", "sts.me-central-1.amazonaws.com"},
		{"af-south-1", "aws", "sts.af-south-1.amazonaws.com"},
		{"il-central-1", "aws", "sts.il-central-1.amazonaws.com"},
		{"mx-central-1", "aws", "sts.mx-central-1.amazonaws.com"},
		{"cn-north-1", "aws-cn", "sts.cn-north-1.amazonaws.com.cn"},
		{"cn-northwest-1", "aws-cn", "sts.cn-northwest-1.amazonaws.com.cn"},
		{"us-gov-west-1", "aws-us-gov", "sts.us-gov-west-1.amazonaws.com"},
		{"us-gov-east-1", "aws-us-gov", "sts.us-gov-east-1.amazonaws.com"},
	}
	for _, tt := range ok {
		host, err := stsauth.RegionHost(tt.region)
		if err != nil || host != tt.host {
			t.Errorf("RegionHost(%q) = %q, %v; want %q", tt.region, host, err, tt.host)
		}
		p, err := stsauth.RegionPartition(tt.region)
		if err != nil || p != tt.partition {
			t.Errorf("RegionPartition(%q) = %q, %v; want %q", tt.region, p, err, tt.partition)
		}
	}
	bad := []string{
		"", "us-west-2.evil.com", "us-west-2/", "../", "..", ".", "localhost", "US-WEST-2", "Us-West-2",
		strings.Repeat("a", 300), "us-west-2@evil", "us-west-2:443", "us-west-2#", "us-west-2?", "127.0.0.1",
		"[::1]", "us-west-2 ", " us-west-2", "us-west-2\n", "us-west-2\x00", "us-west-２", "us‐west‐2",
		"us-west", "us-2", "west-2", "us--west-2", "us-west-", "-west-2", "us-west-02", "us-west-0", "us-west-100",
		"us_west_2", "uswest2", "aws-global", "us-iso-east-1", "us-isob-east-1", "eusc-de-east-1", "local-1",
		"us-gov-west", "cn-north", "sts.us-west-2.amazonaws.com", "us-west-2.amazonaws.com/",
		"a-" + strings.Repeat("b", 40) + "-1",
	}
	for _, region := range bad {
		host, err := stsauth.RegionHost(region)
		if err == nil || cerberus.Code(err) != cerberus.ECodeBadRequest {
			t.Errorf("RegionHost(%q) = %q, %v; want error code %d", region, host, err, cerberus.ECodeBadRequest)
		}
		if _, err := stsauth.RegionPartition(region); err == nil {
			t.Errorf("RegionPartition(%q) succeeded, want an error", region)
		}
	}
}
