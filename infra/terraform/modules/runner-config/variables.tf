variable "engine_url" {
  description = "The Rivet engine API, e.g. https://api.rivet.dev or a self-hosted engine."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.engine_url))
    error_message = "engine_url must be an http(s) URL."
  }
}

variable "namespace" {
  description = "Engine namespace the runner config belongs to."
  type        = string
  default     = "default"
}

variable "name" {
  description = "Runner config (pool) name; actors select it with runner_name_selector."
  type        = string
  default     = "default"
}

variable "runner_url" {
  description = "The runner's /api/rivet URL (the runner-lambda module's runner_url output)."
  type        = string

  validation {
    condition     = can(regex("^https?://.+/api/rivet$", var.runner_url))
    error_message = "runner_url must be an http(s) URL ending in /api/rivet."
  }
}

variable "secret_header" {
  description = "Header that carries the shared secret."
  type        = string
  default     = "x-runner-secret"
}

variable "runner_secret" {
  description = "The shared secret (the same value the runner has as RUNNER_SECRET)."
  type        = string
  sensitive   = true
}

variable "engine_token" {
  description = "Engine API token (Authorization: Bearer). Null for an engine without auth."
  type        = string
  sensitive   = true
  default     = null
}

variable "platform_timeout_seconds" {
  description = "The platform's hard limit on one request (the Lambda function timeout)."
  type        = number
  default     = 900
}

variable "deadline_margin_seconds" {
  description = "How long before the platform timeout the runner drains by itself (RUNNER_DEADLINE_MARGIN_MS / 1000)."
  type        = number
  default     = 10
}

variable "request_lifespan" {
  description = "Seconds the engine keeps one /start open. Must leave the deadline margin before the platform timeout."
  type        = number
  default     = 840
}

variable "drain_grace_period" {
  description = "Seconds between the engine's drain (GOING_AWAY) and the end of the lifespan. Always set: the engine's default (1800) is rejected for lifespans up to 1800 s."
  type        = number
  default     = 30

  validation {
    condition     = var.drain_grace_period >= 1 && var.drain_grace_period <= 1800
    error_message = "drain_grace_period must be between 1 and 1800 seconds."
  }
}

variable "max_concurrent_actors" {
  description = "The engine's slot counter for this pool."
  type        = number
  default     = 1000
}

variable "cli" {
  description = "The `rivet-runner` binary of this project (cargo build --release -p runner-container), which registers the config."
  type        = string
  default     = "rivet-runner"
}
