# Redis 7 on ElastiCache: a primary and one replica in the other zone with
# automatic failover, TLS in transit, an AUTH token, encryption at rest with
# a key of this module, daily snapshots and the slow log in CloudWatch Logs.
# Reachable only from the security groups in client_security_group_ids.
#
# The AUTH token is drawn once at creation (later applies ignore a new draw);
# it is kept in the Terraform state (an ElastiCache argument, not write-only),
# which is encrypted and readable by the deploy roles only.

locals {
  log_group = "/aws/elasticache/${var.name}/slow-log"
}

data "aws_secretsmanager_random_password" "auth_token" {
  password_length     = 64
  exclude_punctuation = true
}

module "key" {
  source = "../kms"

  description    = "${var.name}: ElastiCache data at rest and its slow log"
  log_group_name = local.log_group
  tags           = var.tags
}

resource "aws_cloudwatch_log_group" "slow_log" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = module.key.arn

  tags = var.tags
}

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "Redis from the EKS nodes only"
  vpc_id      = var.vpc_id

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  count = length(var.client_security_group_ids)

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the cluster"
  referenced_security_group_id = var.client_security_group_ids[count.index]
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "${var.name}: item cache and change-feed wake-ups"
  engine               = "redis"
  engine_version       = "7.1"
  parameter_group_name = "default.redis7"
  node_type            = var.node_type
  port                 = 6379

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = module.key.arn
  transit_encryption_enabled = true
  auth_token                 = data.aws_secretsmanager_random_password.auth_token.random_password

  auto_minor_version_upgrade = true
  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = "01:00-02:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [auth_token]
  }
}
