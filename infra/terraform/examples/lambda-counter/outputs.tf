output "runner_url" {
  description = "The runner's /api/rivet URL, registered with the engine."
  value       = module.runner.runner_url
}

output "bucket_name" {
  description = "Where actor data lives."
  value       = module.storage.bucket_name
}
