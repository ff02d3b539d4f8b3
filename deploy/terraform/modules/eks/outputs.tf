output "cluster_name" {
  description = "The cluster's name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "The cluster's ARN."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "The API server's URL."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_security_group_id" {
  description = "The security group EKS puts on the control plane and the managed nodes: RDS and ElastiCache admit it."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "The IAM OIDC provider of the cluster's service-account tokens (IRSA)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "oidc_issuer" {
  description = "The issuer URL without its scheme, the prefix of the trust policy's condition keys."
  value       = replace(aws_eks_cluster.this.identity[0].oidc[0].issuer, "https://", "")
}
