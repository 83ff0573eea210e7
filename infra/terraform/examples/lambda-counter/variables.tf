variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name prefix for the function and the bucket."
  type        = string
  default     = "rivet-counter"
}

variable "package_path" {
  description = "The Lambda zip holding `bootstrap` (see adapters/lambda/README.md)."
  type        = string
}

variable "engine_url" {
  description = "The Rivet engine API the runner serves."
  type        = string
  default     = "https://api.rivet.dev"
}

variable "engine_token" {
  description = "Engine API token, if the engine requires one."
  type        = string
  sensitive   = true
  default     = null
}

variable "namespace" {
  description = "Engine namespace."
  type        = string
  default     = "default"
}
