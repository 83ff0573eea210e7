variable "bucket_name" {
  description = "Name of the S3 bucket that holds actor data (manifests, snapshots, WAL segments, files)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "prefix" {
  description = "Key prefix the runner writes under (RUNNER_STORE_PREFIX). The IAM policy is limited to it."
  type        = string
  default     = "actors"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.prefix))
    error_message = "prefix must be a relative key prefix without leading or trailing slashes."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a superseded object version (an overwritten manifest, a deleted snapshot or segment) is kept before it expires. Versions are a safety net against operator mistakes, not part of the runner's protocol."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption. Null uses S3-managed keys (SSE-S3)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete a bucket that still holds actor data."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
