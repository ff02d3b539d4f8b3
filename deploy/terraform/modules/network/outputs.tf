output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "Public subnets, one per zone."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Private subnets, one per zone."
  value       = aws_subnet.private[*].id
}

output "private_subnet_cidrs" {
  description = "Address blocks of the private subnets, where RDS and ElastiCache live (the prod overlay's NetworkPolicy egress)."
  value       = aws_subnet.private[*].cidr_block
}

output "nat_public_ips" {
  description = "The NAT gateways' public addresses: what outside services see the cluster's egress come from."
  value       = aws_eip.nat[*].public_ip
}
