# Run once per account, before the environments: the S3 bucket that holds
# their state (versioned, encrypted with a key of its own, never public,
# TLS only) and the DynamoDB table that locks it. This configuration keeps
# its own small state locally (terraform.tfstate here, not committed): it
# holds no secret, and losing it only means importing two resources.
#   cd deploy/terraform/bootstrap && terraform init && terraform apply

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "inventory"
      ManagedBy = "terraform"
    }
  }
}

module "state_key" {
  source = "../modules/kms"

  description = "Terraform state of inventory"
  tags        = {}
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Only Terraform reads and writes this bucket; CloudTrail records who did, a second log bucket would add nothing
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the state bucket, so no notification target exists
  #checkov:skip=CKV_AWS_144:Versioning keeps every state; a lost region means rebuilding the stack there, and the state is re-imported

  bucket = var.state_bucket

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = module.state_key.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

resource "aws_dynamodb_table" "locks" {
  name         = var.lock_table
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "LockID"

  attribute {
    name = "LockID"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.state_key.arn
  }

  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = true
}
