//! The engine's serverless runner config (`PUT /runner-configs/{name}`): its body, and the rules
//! that keep its lifespans consistent with the platform that hosts the runner.
//!
//! The engine keeps one `/start` open for `request_lifespan` seconds and drains it
//! `drain_grace_period` seconds before the end. A platform that kills requests earlier (Lambda's
//! function timeout) would cut the stream before the engine drains it; the runner's own deadline
//! drain (`deadline_margin`) covers that, but only if the platform leaves it room.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// What the engine needs to call a serverless runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerlessRunnerConfig {
    /// The runner's `/api/rivet` URL.
    pub url: String,
    /// Headers sent on every call (the shared secret goes here).
    pub headers: BTreeMap<String, String>,
    /// Seconds one `/start` stays open.
    pub request_lifespan: u32,
    /// Seconds between the engine's drain and the end of the lifespan.
    pub drain_grace_period: u32,
    /// The engine's slot counter for this pool.
    pub max_concurrent_actors: u32,
}

/// The hosting platform's limit on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformLimit {
    /// Seconds after which the platform kills a request (Lambda's function timeout).
    pub timeout: u32,
    /// Seconds before that the runner drains by itself (`RUNNER_DEADLINE_MARGIN_MS` / 1000).
    pub deadline_margin: u32,
}

/// A runner config the engine would reject, or that would lose the drain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerConfigError {
    /// The engine requires the drain to start inside the lifespan.
    #[error("drain_grace_period ({drain} s) must be shorter than request_lifespan ({lifespan} s)")]
    DrainNotInsideLifespan {
        /// Drain grace, seconds.
        drain: u32,
        /// Lifespan, seconds.
        lifespan: u32,
    },
    /// Too short to stop and persist actors.
    #[error("drain_grace_period ({0} s) must be at least 5 s: actors need it to persist")]
    DrainTooShort(u32),
    /// The engine caps the drain at its stop threshold.
    #[error("drain_grace_period ({0} s) must be at most 1800 s (the engine's stop threshold)")]
    DrainTooLong(u32),
    /// The platform would kill the request before the engine drains it.
    #[error(
        "request_lifespan ({lifespan} s) + deadline margin ({margin} s) exceeds the platform timeout ({timeout} s): the platform would kill /start before the drain"
    )]
    LifespanExceedsPlatform {
        /// Lifespan, seconds.
        lifespan: u32,
        /// Runner's deadline margin, seconds.
        margin: u32,
        /// Platform timeout, seconds.
        timeout: u32,
    },
    /// The URL is not http(s).
    #[error("url `{0}` must start with http:// or https://")]
    BadUrl(String),
    /// The engine accepts at most 16 headers, names up to 128 and values up to 4096 bytes.
    #[error("headers: {0}")]
    BadHeaders(String),
}

impl ServerlessRunnerConfig {
    /// Checks the rules the engine enforces and, given the platform's limit, that the engine's
    /// drain happens before the platform's kill.
    pub fn check(&self, platform: Option<PlatformLimit>) -> Result<(), RunnerConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(RunnerConfigError::BadUrl(self.url.clone()));
        }
        if self.headers.len() > 16 {
            return Err(RunnerConfigError::BadHeaders(format!(
                "{} headers, the engine accepts 16",
                self.headers.len()
            )));
        }
        if let Some((name, _)) = self
            .headers
            .iter()
            .find(|(name, value)| name.len() > 128 || value.len() > 4096)
        {
            return Err(RunnerConfigError::BadHeaders(format!(
                "`{name}` or its value is too long (128 / 4096 bytes)"
            )));
        }
        if self.drain_grace_period >= self.request_lifespan {
            return Err(RunnerConfigError::DrainNotInsideLifespan {
                drain: self.drain_grace_period,
                lifespan: self.request_lifespan,
            });
        }
        if self.drain_grace_period < 5 {
            return Err(RunnerConfigError::DrainTooShort(self.drain_grace_period));
        }
        if self.drain_grace_period > 1800 {
            return Err(RunnerConfigError::DrainTooLong(self.drain_grace_period));
        }
        if let Some(limit) = platform
            && self.request_lifespan.saturating_add(limit.deadline_margin) > limit.timeout
        {
            return Err(RunnerConfigError::LifespanExceedsPlatform {
                lifespan: self.request_lifespan,
                margin: limit.deadline_margin,
                timeout: limit.timeout,
            });
        }
        Ok(())
    }

    /// The `PUT /runner-configs/{name}` body for `datacenter`.
    pub fn body(&self, datacenter: &str) -> Value {
        json!({ "datacenters": { datacenter: { "serverless": {
            "url": self.url,
            "headers": self.headers,
            "request_lifespan": self.request_lifespan,
            "drain_grace_period": self.drain_grace_period,
            "max_concurrent_actors": self.max_concurrent_actors,
        }}}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lifespan: u32, drain: u32) -> ServerlessRunnerConfig {
        ServerlessRunnerConfig {
            url: "https://abc.lambda-url.eu-west-1.on.aws/api/rivet".into(),
            headers: [("x-runner-secret".to_owned(), "s".repeat(32))].into(),
            request_lifespan: lifespan,
            drain_grace_period: drain,
            max_concurrent_actors: 1000,
        }
    }

    const LAMBDA: Option<PlatformLimit> = Some(PlatformLimit {
        timeout: 900,
        deadline_margin: 10,
    });

    #[test]
    fn lifespans_must_fit_the_platform_and_the_drain_the_lifespan() {
        config(840, 30).check(LAMBDA).unwrap();
        config(890, 30).check(LAMBDA).unwrap();
        assert!(matches!(
            config(891, 30).check(LAMBDA),
            Err(RunnerConfigError::LifespanExceedsPlatform { .. })
        ));
        config(3600, 30).check(None).unwrap();
        assert!(matches!(
            config(300, 300).check(None),
            Err(RunnerConfigError::DrainNotInsideLifespan { .. })
        ));
        assert!(matches!(
            config(300, 2).check(None),
            Err(RunnerConfigError::DrainTooShort(2))
        ));
        assert!(matches!(
            config(4000, 1801).check(None),
            Err(RunnerConfigError::DrainTooLong(1801))
        ));
    }

    #[test]
    fn urls_and_headers_are_checked_and_the_body_has_the_engine_shape() {
        let mut bad = config(300, 10);
        bad.url = "ftp://x".into();
        assert!(matches!(bad.check(None), Err(RunnerConfigError::BadUrl(_))));
        let mut many = config(300, 10);
        for i in 0..16 {
            many.headers.insert(format!("x-{i}"), "v".into());
        }
        assert!(matches!(
            many.check(None),
            Err(RunnerConfigError::BadHeaders(_))
        ));
        let body = config(300, 10).body("default");
        let serverless = &body["datacenters"]["default"]["serverless"];
        assert_eq!(serverless["request_lifespan"], 300);
        assert_eq!(serverless["drain_grace_period"], 10);
        assert_eq!(
            serverless["headers"]["x-runner-secret"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
    }
}
