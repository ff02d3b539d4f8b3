# State in S3 (versioned, encrypted; deploy/terraform/bootstrap creates the
# bucket and the lock table), locked with DynamoDB. A backend takes no
# variables: set the bucket at init for another account:
#   terraform init -backend-config="bucket=<your state bucket>"
terraform {
  backend "s3" {
    bucket         = "inventory-terraform-state"
    key            = "prod/terraform.tfstate"
    region         = "eu-west-1"
    encrypt        = true
    dynamodb_table = "inventory-terraform-locks"
  }
}
