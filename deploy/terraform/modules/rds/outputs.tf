output "address" {
  description = "The instance's DNS name (it follows a Multi-AZ failover)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL's port."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "The app's database."
  value       = aws_db_instance.this.db_name
}

output "username" {
  description = "The user the app connects as."
  value       = aws_db_instance.this.username
}

output "instance_arn" {
  description = "The instance's ARN."
  value       = aws_db_instance.this.arn
}

output "security_group_id" {
  description = "The instance's security group."
  value       = aws_security_group.rds.id
}

output "master_password" {
  description = "The first password, for the secrets module to store (ephemeral: never in the state or a plan)."
  value       = ephemeral.aws_secretsmanager_random_password.master.random_password
  sensitive   = true
  ephemeral   = true
}
