resource "random_id" "bucket" {
  byte_length = 4
}

resource "random_password" "runner_secret" {
  length  = 48
  special = false
}

module "storage" {
  source      = "../../modules/actor-storage"
  bucket_name = "${var.name}-actors-${random_id.bucket.hex}"
}

module "runner" {
  source               = "../../modules/runner-lambda"
  function_name        = var.name
  package_path         = var.package_path
  timeout_seconds      = 900
  deadline_margin_ms   = 10000
  reserved_concurrency = 10
  runner_secret        = random_password.runner_secret.result
  engine_endpoints     = [var.engine_url]
  namespaces           = [var.namespace]
  storage = {
    bucket_name        = module.storage.bucket_name
    bucket_region      = module.storage.bucket_region
    prefix             = module.storage.prefix
    runner_policy_json = module.storage.runner_policy_json
  }
}

module "runner_config" {
  source                   = "../../modules/runner-config"
  engine_url               = var.engine_url
  engine_token             = var.engine_token
  namespace                = var.namespace
  runner_url               = module.runner.runner_url
  runner_secret            = random_password.runner_secret.result
  platform_timeout_seconds = module.runner.timeout_seconds
  deadline_margin_seconds  = 10
  request_lifespan         = 840
  drain_grace_period       = 30
}
