# `terraform test` in modules/actor-storage, where the registry is reachable. Not executed here.

mock_provider "aws" {}

variables {
  bucket_name = "rivet-actors-test"
}

run "bucket_is_private_versioned_and_encrypted" {
  command = plan

  assert {
    condition     = aws_s3_bucket_public_access_block.this.block_public_acls && aws_s3_bucket_public_access_block.this.restrict_public_buckets
    error_message = "The bucket must block public access."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be on."
  }
}

run "prefix_with_a_leading_slash_is_refused" {
  command = plan
  variables {
    prefix = "/actors"
  }
  expect_failures = [var.prefix]
}
