//! Where an S3 bucket is and how to sign in: shared by the SDK store and the HTTP store.

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Region (any value for most S3-compatible servers).
    pub region: String,
    /// Custom endpoint (`http://127.0.0.1:8333`, an R2 URL); `None` for AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible servers.
    pub force_path_style: bool,
    /// Static credentials; `None` uses the default AWS chain (environment, profile, ECS/EC2 role,
    /// Lambda's role credentials), which only the SDK store has.
    pub credentials: Option<StaticCredentials>,
    /// Attempts per request, including the first (the SDK's standard retry mode; the HTTP store
    /// leaves retries to the persistence layer).
    pub max_attempts: u32,
}

/// An access key pair.
#[derive(Clone)]
pub struct StaticCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<static>"),
            )
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}
