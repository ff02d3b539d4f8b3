variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "log_group_name" {
  description = "A CloudWatch Logs group that may encrypt with the key (null: none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on the key."
  type        = map(string)
  default     = {}
}
