variable "region" {
  description = "AWS region of the state bucket (the envs' backend region)."
  type        = string
  default     = "eu-west-1"
}

variable "state_bucket" {
  description = "Name of the state bucket (globally unique; the envs' backend bucket)."
  type        = string
  default     = "inventory-terraform-state"
}

variable "lock_table" {
  description = "Name of the DynamoDB lock table (the envs' backend dynamodb_table)."
  type        = string
  default     = "inventory-terraform-locks"
}
