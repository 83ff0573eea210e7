# `terraform test` in modules/runner-config, where the registry is reachable. Not executed on the
# build machine: see ../../../README.md.

variables {
  engine_url    = "http://127.0.0.1:6420"
  runner_url    = "https://example.lambda-url.eu-west-1.on.aws/api/rivet"
  runner_secret = "0123456789abcdef0123456789abcdef"
  cli           = "true"
}

run "consistent_lifespans_plan" {
  command = plan
}

run "lifespan_longer_than_the_platform_is_refused" {
  command = plan
  variables {
    request_lifespan         = 900
    platform_timeout_seconds = 900
  }
  expect_failures = [terraform_data.runner_config]
}

run "drain_not_inside_the_lifespan_is_refused" {
  command = plan
  variables {
    request_lifespan   = 60
    drain_grace_period = 60
  }
  expect_failures = [terraform_data.runner_config]
}
