variable "name" {
  description = "The repository's name, e.g. inventory/inventory."
  type        = string
}

variable "keep_tagged_images" {
  description = "How many tagged images (releases, commit SHAs) are kept; older ones expire."
  type        = number
  default     = 50
}

variable "untagged_expiry_days" {
  description = "Days an untagged image (a layer of an interrupted push) is kept."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
