variable "function_name" {
  description = "Name of the Lambda function."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "package_path" {
  description = "Path to the deployment zip holding the `bootstrap` binary (see adapters/lambda/README.md for the build)."
  type        = string
}

variable "architecture" {
  description = "Instruction set of the `bootstrap` binary: arm64 (Graviton, cheaper) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  description = "Memory in MB. CPU scales with it; 512 MB is comfortable for SQLite-backed actors."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "timeout_seconds" {
  description = "Function timeout: the longest a /start stream (and so an actor allocation) can live. The runner config's request_lifespan must be shorter."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout_seconds >= 30 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 30 and 900 (Lambda's maximum)."
  }
}

variable "deadline_margin_ms" {
  description = "How long before the invocation deadline the runner drains its actors and persists them (RUNNER_DEADLINE_MARGIN_MS)."
  type        = number
  default     = 10000

  validation {
    condition     = var.deadline_margin_ms >= 1000
    error_message = "deadline_margin_ms must be at least 1000."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: the cap on simultaneous /start streams, and so on hosted actor batches. Null leaves the account pool shared."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1, false)
    error_message = "reserved_concurrency must be null or at least 1."
  }
}

variable "runner_secret" {
  description = "Shared secret the engine sends in `secret_header` on every call (RUNNER_SECRET). Generate it with random_password."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.runner_secret) >= 32
    error_message = "runner_secret must be at least 32 characters."
  }
}

variable "secret_header" {
  description = "Header carrying the shared secret (RUNNER_SECRET_HEADER)."
  type        = string
  default     = "x-runner-secret"
}

variable "engine_endpoints" {
  description = "Engine URLs the runner accepts /start from (RUNNER_ENGINE_ENDPOINTS), e.g. https://api.rivet.dev."
  type        = list(string)

  validation {
    condition     = length(var.engine_endpoints) > 0 && alltrue([for e in var.engine_endpoints : can(regex("^https?://", e))])
    error_message = "engine_endpoints must be a non-empty list of http(s) URLs."
  }
}

variable "namespaces" {
  description = "Namespaces the runner serves (RUNNER_NAMESPACES). Empty allows any."
  type        = list(string)
  default     = []
}

variable "storage" {
  description = "Where actor data lives: the actor-storage module's outputs."
  type = object({
    bucket_name        = string
    bucket_region      = string
    prefix             = string
    runner_policy_json = string
  })
}

variable "durability" {
  description = "RUNNER_DURABILITY: strict (a reply leaves only once its writes are in S3) or interval."
  type        = string
  default     = "strict"

  validation {
    condition     = contains(["strict", "interval"], var.durability)
    error_message = "durability must be strict or interval."
  }
}

variable "log_retention_days" {
  description = "CloudWatch log retention in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "log_level" {
  description = "AWS_LAMBDA_LOG_LEVEL for the function's JSON logs."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "environment" {
  description = "Extra RUNNER_* variables (see adapters/lambda/README.md)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
