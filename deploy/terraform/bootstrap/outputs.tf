output "state_bucket" {
  description = "The envs' backend bucket."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "The envs' backend dynamodb_table."
  value       = aws_dynamodb_table.locks.name
}
