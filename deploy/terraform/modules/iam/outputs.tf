output "deploy_role_arn" {
  description = "The role GitHub Actions assumes (aws-actions/configure-aws-credentials role-to-assume)."
  value       = aws_iam_role.deploy.arn
}

output "app_role_arn" {
  description = "The app's IRSA role: the ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = aws_iam_role.app.arn
}
