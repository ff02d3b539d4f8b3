# The app's two secrets in Secrets Manager, encrypted with a key of this
# module:
# - <name>/database: the PostgreSQL connection in the JSON shape AWS's
#   rotation functions read and write (engine, host, port, username,
#   password, dbname). The app reads a URL; the consumer in the cluster
#   renders postgres://username:password@host:port/dbname?sslmode=require from
#   these fields (docs/INFRASTRUCTURE.md). Rotated every rotation_days by
#   AWS's single-user PostgreSQL rotation function, deployed here from the
#   Serverless Application Repository into the private subnets; the first
#   rotation runs as soon as the rotation is set up.
# - <name>/redis-url: rediss://:TOKEN@HOST:PORT/ as the app reads it.
#
# Both values are written once, when the secret is created (write-only
# arguments: they are not kept in the Terraform state); later changes come
# from rotation, never from Terraform.

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  # AWS's rotation function for a PostgreSQL user that changes its own password.
  rotation_application = "arn:aws:serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser"
}

module "key" {
  source = "../kms"

  description = "${var.resource_prefix}: Secrets Manager secrets"
  tags        = var.tags
}

resource "aws_secretsmanager_secret" "database" {
  name                    = "${var.name}/database"
  description             = "PostgreSQL connection of the app (rotated)"
  kms_key_id              = module.key.arn
  recovery_window_in_days = var.recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "database" {
  secret_id = aws_secretsmanager_secret.database.id
  secret_string_wo = jsonencode({
    engine   = "postgres"
    host     = var.database_host
    port     = var.database_port
    username = var.database_username
    password = var.database_password
    dbname   = var.database_name
  })
  secret_string_wo_version = 1
}

resource "aws_secretsmanager_secret" "redis_url" {
  #checkov:skip=CKV2_AWS_57:AWS ships no rotation function for ElastiCache AUTH tokens; docs/INFRASTRUCTURE.md gives the rotation steps (auth-token-update-strategy ROTATE)

  name                    = "${var.name}/redis-url"
  description             = "Redis URL of the app, with its AUTH token"
  kms_key_id              = module.key.arn
  recovery_window_in_days = var.recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id                = aws_secretsmanager_secret.redis_url.id
  secret_string_wo         = "rediss://:${var.redis_auth_token}@${var.redis_host}:${var.redis_port}/"
  secret_string_wo_version = 1
}

# ---------------------------------------------------------------- rotation

resource "aws_security_group" "rotation" {
  #checkov:skip=CKV2_AWS_5:Attached to the rotation function, which the CloudFormation stack below creates and checkov cannot see into

  name        = "${var.resource_prefix}-db-rotation"
  description = "The database rotation function: PostgreSQL and HTTPS (Secrets Manager) out"
  vpc_id      = var.vpc_id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "rotation_postgres" {
  security_group_id            = aws_security_group.rotation.id
  description                  = "To the database"
  referenced_security_group_id = var.database_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
}

resource "aws_vpc_security_group_egress_rule" "rotation_https" {
  security_group_id = aws_security_group.rotation.id
  description       = "To the Secrets Manager API (through the NAT gateways)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "database_from_rotation" {
  security_group_id            = var.database_security_group_id
  description                  = "PostgreSQL from the rotation function"
  referenced_security_group_id = aws_security_group.rotation.id
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
}

resource "aws_serverlessapplicationrepository_cloudformation_stack" "rotation" {
  name           = "${var.resource_prefix}-db-rotation"
  application_id = local.rotation_application
  capabilities   = ["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"]

  parameters = {
    functionName        = "${var.resource_prefix}-db-rotation"
    endpoint            = "https://secretsmanager.${data.aws_region.current.name}.${data.aws_partition.current.dns_suffix}"
    kmsKeyArn           = module.key.arn
    vpcSubnetIds        = join(",", var.subnet_ids)
    vpcSecurityGroupIds = aws_security_group.rotation.id
  }

  tags = var.tags
}

resource "aws_secretsmanager_secret_rotation" "database" {
  secret_id           = aws_secretsmanager_secret.database.id
  rotation_lambda_arn = aws_serverlessapplicationrepository_cloudformation_stack.rotation.outputs["RotationLambdaARN"]

  rotation_rules {
    automatically_after_days = var.rotation_days
  }

  depends_on = [
    aws_secretsmanager_secret_version.database,
    aws_vpc_security_group_ingress_rule.database_from_rotation,
  ]
}
