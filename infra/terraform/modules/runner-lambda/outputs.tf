output "function_name" {
  description = "The Lambda function's name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "The Lambda function's ARN."
  value       = aws_lambda_function.this.arn
}

output "function_url" {
  description = "The Function URL (ends with /)."
  value       = aws_lambda_function_url.this.function_url
}

output "runner_url" {
  description = "The serverless runner URL to register with the engine: the Function URL + api/rivet."
  value       = "${trimsuffix(aws_lambda_function_url.this.function_url, "/")}/api/rivet"
}

output "timeout_seconds" {
  description = "The function timeout, which bounds the runner config's request_lifespan."
  value       = var.timeout_seconds
}

output "role_arn" {
  description = "The execution role's ARN."
  value       = aws_iam_role.this.arn
}
