variable "name" {
  description = "The replication group's id, e.g. inventory-prod."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in two zones (the replica is in the other zone)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 6379 (the EKS nodes)."
  type        = list(string)
}

variable "node_type" {
  description = "The cache node type, e.g. cache.t4g.small."
  type        = string
}

variable "snapshot_retention_days" {
  description = "Days of daily snapshots (the cache can be rebuilt from the database; snapshots shorten a cold start)."
  type        = number
  default     = 7
}

variable "log_retention_days" {
  description = "Days the slow log is kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
