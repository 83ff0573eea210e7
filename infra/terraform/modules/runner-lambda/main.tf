locals {
  environment = merge(
    {
      RUNNER_SECRET             = var.runner_secret
      RUNNER_SECRET_HEADER      = var.secret_header
      RUNNER_ENGINE_ENDPOINTS   = join(",", var.engine_endpoints)
      RUNNER_NAMESPACES         = join(",", var.namespaces)
      RUNNER_DEADLINE_MARGIN_MS = tostring(var.deadline_margin_ms)
      RUNNER_OBJECT_STORE       = "s3"
      RUNNER_S3_BUCKET          = var.storage.bucket_name
      RUNNER_S3_REGION          = var.storage.bucket_region
      RUNNER_STORE_PREFIX       = var.storage.prefix
      RUNNER_DURABILITY         = var.durability
      RUNNER_DATA_DIR           = "/tmp/rivet-runner"
    },
    var.environment,
  )
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.function_name}-runner"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# Logs: only this function's log group.
data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "logs" {
  name   = "logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.logs.json
}

# Storage: only the actor prefix of the bucket (from the actor-storage module).
resource "aws_iam_role_policy" "storage" {
  name   = "actor-storage"
  role   = aws_iam_role.this.id
  policy = var.storage.runner_policy_json
}

resource "aws_lambda_function" "this" {
  function_name                  = var.function_name
  role                           = aws_iam_role.this.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  memory_size                    = var.memory_mb
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency
  tags                           = var.tags

  environment {
    variables = local.environment
  }

  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "WARN"
    log_group             = aws_cloudwatch_log_group.this.name
  }

  tracing_config {
    mode = "PassThrough"
  }

  depends_on = [aws_iam_role_policy.logs, aws_iam_role_policy.storage]
}

# The engine calls this URL. Auth is the runner's shared secret (the engine cannot sign
# requests with SigV4); RESPONSE_STREAM keeps /start's server-sent events flowing.
resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = "NONE"
  invoke_mode        = "RESPONSE_STREAM"
}
