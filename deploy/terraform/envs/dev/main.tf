# Development (cd.yml's staging): the same stack as prod, smaller. Every
# module's security settings are fixed in the module; this file chooses
# sizes and wires outputs to inputs. docs/INFRASTRUCTURE.md has the diagram.

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

locals {
  environment = "dev"
  name        = "inventory-${local.environment}"
  tags = {
    Project     = "inventory"
    Environment = local.environment
    ManagedBy   = "terraform"
  }
}

module "network" {
  source = "../../modules/network"

  name                 = local.name
  cluster_name         = local.name
  cidr_block           = var.vpc_cidr
  azs                  = var.azs
  public_subnet_cidrs  = [cidrsubnet(var.vpc_cidr, 8, 0), cidrsubnet(var.vpc_cidr, 8, 1)]
  private_subnet_cidrs = [cidrsubnet(var.vpc_cidr, 4, 1), cidrsubnet(var.vpc_cidr, 4, 2)]
  tags                 = local.tags
}

module "eks" {
  source = "../../modules/eks"

  name                   = local.name
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = length(var.eks_public_access_cidrs) > 0
  public_access_cidrs    = var.eks_public_access_cidrs
  node_instance_types    = var.node_instance_types
  node_min_size          = 2
  node_max_size          = 5
  node_desired_size      = 2
  tags                   = local.tags
}

module "rds" {
  source = "../../modules/rds"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  instance_class            = var.db_instance_class
  allocated_storage         = 20
  max_allocated_storage     = 100
  backup_retention_days     = 7
  tags                      = local.tags
}

module "elasticache" {
  source = "../../modules/elasticache"

  name                      = local.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  client_security_group_ids = [module.eks.cluster_security_group_id]
  node_type                 = var.redis_node_type
  tags                      = local.tags
}

module "ecr" {
  source = "../../modules/ecr"

  # The environment's own repository: promoting an image copies it by digest.
  name = "${local.name}/inventory"
  tags = local.tags
}

module "secrets" {
  source = "../../modules/secrets"

  name                       = "inventory/${local.environment}"
  resource_prefix            = local.name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  database_security_group_id = module.rds.security_group_id
  database_host              = module.rds.address
  database_port              = module.rds.port
  database_name              = module.rds.database_name
  database_username          = module.rds.username
  database_password          = module.rds.master_password
  redis_host                 = module.elasticache.primary_endpoint
  redis_port                 = module.elasticache.port
  redis_auth_token           = module.elasticache.auth_token
  tags                       = local.tags
}

module "iam" {
  source = "../../modules/iam"

  name                        = local.name
  create_github_oidc_provider = var.create_github_oidc_provider
  github_repository           = var.github_repository
  github_environment          = var.github_environment
  ecr_repository_arn          = module.ecr.repository_arn
  cluster_name                = module.eks.cluster_name
  cluster_arn                 = module.eks.cluster_arn
  oidc_provider_arn           = module.eks.oidc_provider_arn
  oidc_issuer                 = module.eks.oidc_issuer
  secret_arns                 = [module.secrets.database_secret_arn, module.secrets.redis_url_secret_arn]
  secrets_kms_key_arn         = module.secrets.kms_key_arn
  tags                        = local.tags
}
