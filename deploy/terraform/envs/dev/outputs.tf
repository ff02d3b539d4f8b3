# What the pipeline takes from this environment: the same outputs as
# envs/prod (docs/INFRASTRUCTURE.md, "Outputs and the prod overlay").

output "region" {
  description = "The region (aws eks update-kubeconfig --region)."
  value       = var.region
}

output "cluster_name" {
  description = "aws eks update-kubeconfig --name; cd.yml's cluster."
  value       = module.eks.cluster_name
}

output "ecr_repository_url" {
  description = "The overlay's images[name=inventory].newName."
  value       = module.ecr.repository_url
}

output "app_role_arn" {
  description = "The ServiceAccount inventory's eks.amazonaws.com/role-arn annotation."
  value       = module.iam.app_role_arn
}

output "deploy_role_arn" {
  description = "GitHub Actions' role-to-assume in the staging environment."
  value       = module.iam.deploy_role_arn
}

output "database_secret_name" {
  description = "Secrets Manager secret the Secret inventory-secrets' database-url is rendered from."
  value       = module.secrets.database_secret_name
}

output "redis_url_secret_name" {
  description = "Secrets Manager secret the Secret inventory-secrets' redis-url comes from."
  value       = module.secrets.redis_url_secret_name
}

output "data_subnet_cidrs" {
  description = "The private subnets' blocks, where RDS and ElastiCache are: the overlay's NetworkPolicy egress ipBlocks."
  value       = module.network.private_subnet_cidrs
}
