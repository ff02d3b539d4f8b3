variable "name" {
  description = "The cluster's name, e.g. inventory-prod."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane (the manifests are validated against 1.30)."
  type        = string
  default     = "1.30"
}

variable "subnet_ids" {
  description = "Private subnets (two zones) for the control plane's interfaces and the nodes."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Whether the API server is reachable from the internet (restricted to public_access_cidrs)."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "Address blocks allowed to reach a public API endpoint (the deploy runners' egress, an office)."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_disk_size" {
  description = "GiB of each node's root volume (encrypted)."
  type        = number
  default     = 50
}

variable "node_min_size" {
  description = "Fewest nodes."
  type        = number
  default     = 2

  validation {
    condition     = var.node_min_size >= 2
    error_message = "At least two nodes, one per zone."
  }
}

variable "node_max_size" {
  description = "Most nodes."
  type        = number
  default     = 5
}

variable "node_desired_size" {
  description = "Nodes at creation; the cluster autoscaler moves it afterwards (ignored by later applies)."
  type        = number
  default     = 2
}

variable "log_retention_days" {
  description = "Days the control plane's logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
