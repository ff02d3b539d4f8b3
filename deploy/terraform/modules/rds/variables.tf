variable "name" {
  description = "Prefix of every resource's name, e.g. inventory-prod."
  type        = string
}

variable "vpc_id" {
  description = "The VPC."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in two zones (Multi-AZ)."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the EKS nodes, the rotation function)."
  type        = list(string)
}

variable "instance_class" {
  description = "The instance class, e.g. db.t4g.medium."
  type        = string
}

variable "allocated_storage" {
  description = "GiB of gp3 storage at creation."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "GiB storage autoscaling may grow to."
  type        = number
  default     = 100
}

variable "database_name" {
  description = "The database the app uses."
  type        = string
  default     = "inventory"
}

variable "username" {
  description = "The master user, the one the app connects as (its password is rotated by the secrets module)."
  type        = string
  default     = "inventory"
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Keep automated backups for at least 7 days."
  }
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
