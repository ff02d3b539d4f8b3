variable "name" {
  description = "Prefix of every resource's name, e.g. inventory-prod."
  type        = string
}

variable "cidr_block" {
  description = "The VPC's address block."
  type        = string
}

variable "azs" {
  description = "Two availability zones; one public and one private subnet, and one NAT gateway, in each."
  type        = list(string)

  validation {
    condition     = length(var.azs) == 2
    error_message = "Exactly two availability zones."
  }
}

variable "public_subnet_cidrs" {
  description = "One block per zone, in the order of azs: load balancers and NAT gateways."
  type        = list(string)
}

variable "private_subnet_cidrs" {
  description = "One block per zone, in the order of azs: EKS nodes, RDS, ElastiCache."
  type        = list(string)
}

variable "cluster_name" {
  description = "The EKS cluster's name, tagged on the subnets so its load balancer controller finds them."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
