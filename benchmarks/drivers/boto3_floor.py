"""Provisioning floor: boto3 with the fewest calls, one RunInstances for N, then the running waiter."""

from __future__ import annotations

import argparse
import sys

import boto3


def main() -> int:
    """Launch N tagged instances and wait until they run."""
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ami", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--name", required=True)
    args = p.parse_args()
    ec2 = boto3.client("ec2", endpoint_url=args.endpoint, region_name="us-east-1")
    tags = [{"Key": "Name", "Value": args.name}, {"Key": "flaskfleet.name", "Value": args.name}]
    resp = ec2.run_instances(
        ImageId=args.ami,
        InstanceType="t3.micro",
        MinCount=args.count,
        MaxCount=args.count,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    ids = [i["InstanceId"] for i in resp["Instances"]]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    print(f"OK {len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
