output "database_secret_name" {
  description = "Name of the database secret (JSON: engine, host, port, username, password, dbname)."
  value       = aws_secretsmanager_secret.database.name
}

output "database_secret_arn" {
  description = "ARN of the database secret."
  value       = aws_secretsmanager_secret.database.arn
}

output "redis_url_secret_name" {
  description = "Name of the Redis URL secret."
  value       = aws_secretsmanager_secret.redis_url.name
}

output "redis_url_secret_arn" {
  description = "ARN of the Redis URL secret."
  value       = aws_secretsmanager_secret.redis_url.arn
}

output "kms_key_arn" {
  description = "The key the secrets are encrypted with (readers need kms:Decrypt through Secrets Manager)."
  value       = module.key.arn
}
