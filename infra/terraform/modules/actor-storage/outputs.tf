output "bucket_name" {
  description = "The bucket's name (RUNNER_S3_BUCKET)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "The bucket's ARN."
  value       = aws_s3_bucket.this.arn
}

output "bucket_region" {
  description = "The bucket's region (RUNNER_S3_REGION)."
  value       = aws_s3_bucket.this.region
}

output "prefix" {
  description = "The key prefix (RUNNER_STORE_PREFIX)."
  value       = var.prefix
}

output "runner_policy_json" {
  description = "IAM policy document granting a runner least-privilege access to the prefix."
  value       = data.aws_iam_policy_document.runner_access.json
}
