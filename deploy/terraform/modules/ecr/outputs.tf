output "repository_url" {
  description = "ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME: the prod overlay's image newName."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "The repository's ARN (the deploy role may push to this one only)."
  value       = aws_ecr_repository.this.arn
}

output "kms_key_arn" {
  description = "The key the images are encrypted with."
  value       = module.key.arn
}
