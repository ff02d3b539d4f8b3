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
  default     = "10.10.0.0/16"
}

variable "github_repository" {
  description = "owner/name of the repository whose staging deploy job assumes the deploy role."
  type        = string
}

variable "github_environment" {
  description = "The GitHub environment whose jobs assume the deploy role."
  type        = string
  default     = "staging"
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
  default     = ["t3.large"]
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}
