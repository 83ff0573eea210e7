# After apply: the deployed runner answers /api/rivet/metadata with the envoy protocol.
check "runner_metadata" {
  data "http" "metadata" {
    url = "${module.runner.runner_url}/metadata"
  }

  assert {
    condition     = data.http.metadata.status_code == 200
    error_message = "GET ${module.runner.runner_url}/metadata answered ${data.http.metadata.status_code}."
  }

  assert {
    condition     = try(jsondecode(data.http.metadata.response_body).runtime, "") == "rivetkit"
    error_message = "The metadata does not come from a Rivet runner."
  }
}
