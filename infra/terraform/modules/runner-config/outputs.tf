output "name" {
  description = "The runner config (pool) name."
  value       = var.name
}

output "request_lifespan" {
  description = "The registered request lifespan in seconds."
  value       = var.request_lifespan
}
