output "primary_endpoint" {
  description = "The primary's DNS name (it follows a failover)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Redis's port."
  value       = aws_elasticache_replication_group.this.port
}

output "auth_token" {
  description = "The AUTH token as drawn in this run: the one the group was created with only in the run that creates it (the secrets module stores it then, once)."
  value       = data.aws_secretsmanager_random_password.auth_token.random_password
  sensitive   = true
}

output "security_group_id" {
  description = "The replication group's security group."
  value       = aws_security_group.redis.id
}
