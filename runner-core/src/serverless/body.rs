//! Reading a request body no larger than what [`crate::Runner::admit`] allowed, chunk by chunk,
//! so a body that is too large is refused as soon as it passes the limit, never buffered whole.
//! Every adapter reads its body through this, whatever its platform's chunks are.

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError<E> {
    /// It passed the limit; `size` is how much had arrived by then.
    #[error("the body passed its limit at {size} bytes")]
    TooLarge {
        /// Bytes received when the limit was passed.
        size: usize,
    },
    /// The platform failed to deliver it.
    #[error("reading the body: {0}")]
    Read(#[source] E),
}

/// Collects `chunks` into one body of at most `limit` bytes.
pub async fn read_body<S, C, E>(chunks: S, limit: usize) -> Result<Bytes, BodyError<E>>
where
    S: Stream<Item = Result<C, E>>,
    C: AsRef<[u8]>,
{
    let mut chunks = std::pin::pin!(chunks);
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(BodyError::Read)?;
        let chunk = chunk.as_ref();
        let size = body.len().saturating_add(chunk.len());
        if size > limit {
            return Err(BodyError::TooLarge { size });
        }
        body.extend_from_slice(chunk);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(sizes: &[usize]) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> {
        futures_util::stream::iter(sizes.iter().map(|n| Ok(vec![7u8; *n])).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn a_body_within_the_limit_arrives_whole() {
        let body = read_body(chunks(&[3, 0, 4]), 7).await.unwrap();
        assert_eq!(body.len(), 7);
    }

    #[tokio::test]
    async fn a_body_past_the_limit_stops_at_the_chunk_that_passes_it() {
        let err = read_body(chunks(&[4, 4, 1_000_000]), 7).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { size: 8 }), "{err}");
    }

    #[tokio::test]
    async fn a_failed_read_is_the_platforms_error() {
        let failing =
            futures_util::stream::iter(vec![Ok(vec![1u8]), Err(std::io::Error::other("reset"))]);
        let err = read_body(failing, 100).await.unwrap_err();
        assert!(matches!(err, BodyError::Read(_)), "{err}");
    }
}
