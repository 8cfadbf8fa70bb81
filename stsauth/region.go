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
		return "", errBadRequest("Invalid region supplied.", "the region "+quote(region, 64)+" is not a valid AWS region name")
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
