# A customer-managed key, rotated yearly, administered by the account (IAM
# policies then say who uses it); with log_group_name, CloudWatch Logs may
# use it for that one log group. Every module that encrypts something makes
# its own key with this module, so that no key serves two purposes.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name

  account_administers = {
    Sid       = "AccountAdministers"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }
  logs_use = {
    Sid       = "CloudWatchLogsUses"
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    Resource  = "*"
    Condition = {
      ArnLike = {
        "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:${coalesce(var.log_group_name, "none")}"
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description         = var.description
  enable_key_rotation = true

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat([local.account_administers], slice([local.logs_use], 0, var.log_group_name == null ? 0 : 1))
  })

  tags = var.tags
}
