variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "azs" {
  description = "The two availability zones."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "vpc_cidr" {
  description = "The VPC's address block."
  type        = string
  default     = "10.20.0.0/16"
}

variable "github_repository" {
  description = "owner/name of the repository whose production deploy job assumes the deploy role."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "false when the account's GitHub OIDC provider exists already (e.g. made by another environment)."
  type        = bool
  default     = true
}

variable "eks_public_access_cidrs" {
  description = "Address blocks that may reach the EKS API server's public endpoint; empty keeps it private (deploy from inside the VPC)."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "EKS node instance types."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.m6g.large"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.m6g.large"
}
