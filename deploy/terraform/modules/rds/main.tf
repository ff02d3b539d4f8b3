# PostgreSQL 15 on RDS: Multi-AZ, storage encrypted with a key of this
# module, automated backups kept backup_retention_days (7 or more), deletion
# protection and a final snapshot, TLS required (rds.force_ssl), IAM
# authentication available, enhanced monitoring, Performance Insights and the
# server's logs in CloudWatch Logs. Reachable only from the security groups
# in client_security_group_ids.
#
# The master password is drawn here once; the secrets module stores it in
# Secrets Manager and rotates it right away and then on a schedule, so
# Terraform's copy (in the state) is stale after the first rotation, and
# later applies leave the password alone (ignore_changes).

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
}

ephemeral "aws_secretsmanager_random_password" "master" {
  password_length     = 40
  exclude_punctuation = true
}

module "key" {
  source = "../kms"

  description = "${var.name}: RDS storage and Performance Insights"
  tags        = var.tags
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "rds" {
  name        = "${var.name}-rds"
  description = "PostgreSQL from the EKS nodes and the rotation function only"
  vpc_id      = var.vpc_id

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  count = length(var.client_security_group_ids)

  security_group_id            = aws_security_group.rds.id
  description                  = "PostgreSQL from the cluster"
  referenced_security_group_id = var.client_security_group_ids[count.index]
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-postgres15"
  family      = "postgres15"
  description = "TLS required; slow statements and DDL logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  tags = var.tags
}

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = "15"
  instance_class = var.instance_class

  db_name             = var.database_name
  username            = var.username
  password_wo         = ephemeral.aws_secretsmanager_random_password.master.random_password
  password_wo_version = 1
  port                = 5432

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = module.key.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.rds.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name

  backup_retention_period   = var.backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring.arn
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = module.key.arn

  tags = var.tags
}
