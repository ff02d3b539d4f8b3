variable "name" {
  description = "Prefix of every secret's name, e.g. inventory/prod."
  type        = string
}

variable "resource_prefix" {
  description = "Prefix of the other resources' names (no slashes), e.g. inventory-prod."
  type        = string
}

variable "vpc_id" {
  description = "The VPC the rotation function runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (with a route to Secrets Manager through NAT) for the rotation function."
  type        = list(string)
}

variable "database_security_group_id" {
  description = "The database's security group: the rotation function is admitted on 5432."
  type        = string
}

variable "database_host" {
  description = "The database's DNS name."
  type        = string
}

variable "database_port" {
  description = "The database's port."
  type        = number
  default     = 5432
}

variable "database_name" {
  description = "The app's database."
  type        = string
}

variable "database_username" {
  description = "The user the app connects as."
  type        = string
}

variable "database_password" {
  description = "The user's first password (ephemeral: written once, never stored in the state); rotation replaces it at once."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "redis_host" {
  description = "The Redis replication group's primary endpoint."
  type        = string
}

variable "redis_port" {
  description = "Redis's port."
  type        = number
  default     = 6379
}

variable "redis_auth_token" {
  description = "The Redis AUTH token."
  type        = string
  sensitive   = true
}

variable "rotation_days" {
  description = "Days between rotations of the database password."
  type        = number
  default     = 30
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
