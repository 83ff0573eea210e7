locals {
  args = [
    "runner-config", "put",
    "--engine", var.engine_url,
    "--namespace", var.namespace,
    "--name", var.name,
    "--url", var.runner_url,
    "--secret-header", var.secret_header,
    "--request-lifespan", tostring(var.request_lifespan),
    "--drain-grace-period", tostring(var.drain_grace_period),
    "--platform-timeout", tostring(var.platform_timeout_seconds),
    "--deadline-margin", tostring(var.deadline_margin_seconds),
    "--max-concurrent-actors", tostring(var.max_concurrent_actors),
  ]
}

# Upserts the engine's runner config (PUT /runner-configs/{name}) whenever an input changes.
# The command checks the same rules as the preconditions below and retries transient errors;
# secrets reach it through the environment, never the command line.
resource "terraform_data" "runner_config" {
  triggers_replace = {
    args          = local.args
    secret_sha256 = sha256(var.runner_secret)
  }

  provisioner "local-exec" {
    command = join(" ", concat([var.cli], [for a in local.args : format("'%s'", a)]))
    environment = {
      RUNNER_SECRET = var.runner_secret
      RIVET_TOKEN   = var.engine_token == null ? "" : var.engine_token
    }
  }

  lifecycle {
    precondition {
      condition     = var.drain_grace_period < var.request_lifespan
      error_message = "drain_grace_period must be shorter than request_lifespan (the engine rejects it otherwise)."
    }
    precondition {
      condition     = var.request_lifespan + var.deadline_margin_seconds <= var.platform_timeout_seconds
      error_message = "request_lifespan + deadline_margin_seconds must not exceed the platform timeout: the platform would kill the request before the engine drains it."
    }
    precondition {
      condition     = var.drain_grace_period >= 5
      error_message = "drain_grace_period below 5 s leaves actors too little time to persist."
    }
  }
}
