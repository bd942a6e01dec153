"""The VPC: public subnets for the ALB and NAT, private subnets for tasks, RDS Proxy and the database."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from commerce_infra.config import StackConfig


@dataclass(frozen=True)
class Network:
    vpc: aws.ec2.Vpc
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]


def subnet_cidrs(vpc_cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """/20 blocks: the first `az_count` are public, the ones from the middle of the range private,
    so adding an AZ later never renumbers an existing subnet."""
    blocks = list(ipaddress.ip_network(vpc_cidr).subnets(new_prefix=20))
    half = len(blocks) // 2
    if az_count < 2 or az_count > half:
        raise ValueError(f"need 2..{half} availability zones for {vpc_cidr}, got {az_count}")
    return [str(b) for b in blocks[:az_count]], [str(b) for b in blocks[half : half + az_count]]


def build_network(cfg: StackConfig) -> Network:
    n = cfg.naming
    net = cfg.network
    if not 1 <= net.nat_gateways <= net.availability_zones:
        # Tasks pull public images (the ADOT collector) and call Stripe, so egress is required.
        raise ValueError("network.natGateways must be between 1 and availabilityZones")
    zones = aws.get_availability_zones_output(state="available").names
    public_cidrs, private_cidrs = subnet_cidrs(net.cidr, net.availability_zones)

    vpc = aws.ec2.Vpc(
        n.name("vpc"),
        cidr_block=net.cidr,
        enable_dns_hostnames=True,  # interface endpoints and RDS need private DNS
        enable_dns_support=True,
        tags={"Name": n.name("vpc")},
    )
    igw = aws.ec2.InternetGateway(n.name("igw"), vpc_id=vpc.id, tags={"Name": n.name("igw")})
    public_rt = aws.ec2.RouteTable(
        n.name("public"),
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
        tags={"Name": n.name("public")},
    )

    public: list[aws.ec2.Subnet] = []
    private: list[aws.ec2.Subnet] = []
    for i in range(net.availability_zones):
        az = zones[i]
        pub = aws.ec2.Subnet(
            n.name("public", str(i)),
            vpc_id=vpc.id,
            cidr_block=public_cidrs[i],
            availability_zone=az,
            map_public_ip_on_launch=False,  # only the ALB and NAT live here, with their own IPs
            tags={"Name": n.name("public", str(i)), "tier": "public"},
        )
        aws.ec2.RouteTableAssociation(n.name("public", str(i)), subnet_id=pub.id, route_table_id=public_rt.id)
        public.append(pub)
        private.append(
            aws.ec2.Subnet(
                n.name("private", str(i)),
                vpc_id=vpc.id,
                cidr_block=private_cidrs[i],
                availability_zone=az,
                tags={"Name": n.name("private", str(i)), "tier": "private"},
            )
        )

    nats = []
    for i in range(net.nat_gateways):
        eip = aws.ec2.Eip(n.name("nat", str(i)), domain="vpc", tags={"Name": n.name("nat", str(i))})
        nats.append(
            aws.ec2.NatGateway(
                n.name("nat", str(i)),
                allocation_id=eip.id,
                subnet_id=public[i].id,
                tags={"Name": n.name("nat", str(i))},
                opts=pulumi.ResourceOptions(depends_on=[igw]),
            )
        )

    private_rts = []
    for i, subnet in enumerate(private):
        nat = nats[i % len(nats)]  # with fewer NATs than AZs, AZs share them round-robin
        rt = aws.ec2.RouteTable(
            n.name("private", str(i)),
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags={"Name": n.name("private", str(i))},
        )
        aws.ec2.RouteTableAssociation(n.name("private", str(i)), subnet_id=subnet.id, route_table_id=rt.id)
        private_rts.append(rt)

    # Gateway endpoint for S3 is free and carries ECR image layers without NAT data charges.
    aws.ec2.VpcEndpoint(
        n.name("s3"),
        vpc_id=vpc.id,
        service_name=f"com.amazonaws.{cfg.region}.s3",
        vpc_endpoint_type="Gateway",
        route_table_ids=[rt.id for rt in private_rts],
        tags={"Name": n.name("s3")},
    )
    return Network(
        vpc=vpc,
        public_subnet_ids=[s.id for s in public],
        private_subnet_ids=[s.id for s in private],
        private_route_table_ids=[rt.id for rt in private_rts],
    )
