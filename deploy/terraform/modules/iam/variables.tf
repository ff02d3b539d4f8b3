variable "name" {
  description = "Prefix of every role's name, e.g. inventory-prod."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub Actions OIDC provider (there is one per account: false in the second environment of the same account)."
  type        = bool
  default     = true
}

variable "github_repository" {
  description = "owner/name of the repository whose workflows may assume the deploy role."
  type        = string
}

variable "github_environment" {
  description = "The GitHub environment whose jobs may assume the deploy role (cd.yml's environment: staging, production)."
  type        = string
}

variable "ecr_repository_arn" {
  description = "The repository the deploy role pushes to."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster the deploy role deploys to."
  type        = string
}

variable "cluster_arn" {
  description = "The EKS cluster's ARN."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The cluster's IAM OIDC provider (IRSA)."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's issuer URL without https://."
  type        = string
}

variable "namespace" {
  description = "The app's Kubernetes namespace (deploy/k8s/base: inventory)."
  type        = string
  default     = "inventory"
}

variable "service_account" {
  description = "The app's ServiceAccount (deploy/k8s/base/serviceaccount.yaml: inventory)."
  type        = string
  default     = "inventory"
}

variable "secret_arns" {
  description = "The Secrets Manager secrets the app may read."
  type        = list(string)
}

variable "secrets_kms_key_arn" {
  description = "The key those secrets are encrypted with."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
