package stsauth

import (
	"regexp"
	"strings"
)

// Partitions of AWS this package serves.
const (
	PartitionAWS   = "aws"
	PartitionChina = "aws-cn"
	PartitionGov   = "aws-us-gov"
)

// regionName matches the shape of an AWS region name: a geography, a
// direction and a number, such as us-west-2, ap-southeast-5, cn-north-1 or
// us-gov-west-1. The shape rather than a list is checked so that regions
// AWS opens later work without a release; whatever matches, the host built
// from it stays under amazonaws.com or amazonaws.com.cn.
var regionName = regexp.MustCompile(`^(?:us-gov|[a-z]{2})-[a-z]{2,16}-[1-9][0-9]?$`)

const maxRegionLength = 32

func validRegion(region string) bool {
	return len(region) <= maxRegionLength && regionName.MatchString(region)
}

// RegionPartition returns the partition of a region: aws-cn for cn-*,
// aws-us-gov for us-gov-*, aws otherwise.
//
// Returns an *Error with code ECodeBadRequest if region is not a valid AWS
// region name.
func RegionPartition(region string) (string, error) {
	if !validRegion(region) {
		return "", errBadRequest("Invalid region supplied: "+quote(region, 64)+" is not an AWS region name, such as us-west-2.",
			"the region "+quote(region, 64)+" is not a valid AWS region name")
	}
	switch {
	case strings.HasPrefix(region, "cn-"):
		return PartitionChina, nil
	case strings.HasPrefix(region, "us-gov-"):
		return PartitionGov, nil
	}
	return PartitionAWS, nil
}

// RegionHost returns the host of the regional STS endpoint of region:
// sts.<region>.amazonaws.com, or sts.<region>.amazonaws.com.cn in the
// aws-cn partition. This is the host the caller signs for and the Host
// header sent to STS.
//
// Returns an *Error with code ECodeBadRequest if region is not a valid AWS
// region name.
func RegionHost(region string) (string, error) {
	p, err := RegionPartition(region)
	if err != nil {
		return "", err
	}
	if p == PartitionChina {
		return "sts." + region + ".amazonaws.com.cn", nil
	}
	return "sts." + region + ".amazonaws.com", nil
}

// knownRegions are the AWS regions open when this release was made. A
// region of the right shape that is not listed still works if AWS serves
// it; the list only tells a region that does not exist (its STS host is
// not in the DNS) from a DNS failure of this server.
var knownRegions = map[string]bool{
	"us-east-1": true, "us-east-2": true, "us-west-1": true, "us-west-2": true,
	"af-south-1": true, "ap-east-1": true, "ap-east-2": true, "ap-south-1": true, "ap-south-2": true,
	"ap-southeast-1": true, "ap-southeast-2": true, "ap-southeast-3": true, "ap-southeast-4": true,
	"ap-southeast-5": true, "ap-southeast-6": true, "ap-southeast-7": true,
	"ap-northeast-1": true, "ap-northeast-2": true, "ap-northeast-3": true,
	"ca-central-1": true, "ca-west-1": true,
	"eu-central-1": true, "eu-central-2": true, "eu-west-1": true, "eu-west-2": true, "eu-west-3": true,
	"eu-south-1": true, "eu-south-2": true, "eu-north-1": true,
	"il-central-1": true, "me-south-1": true, "me-central-1": true, "mx-central-1": true, "sa-east-1": true,
	"cn-north-1": true, "cn-northwest-1": true, "us-gov-east-1": true, "us-gov-west-1": true,
}
