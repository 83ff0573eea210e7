//! Decoding the `/start` body: a u16 LE protocol version, then a BARE `ToEnvoy` holding exactly
//! one `CommandStartActor`.

use rivet_envoy_protocol as protocol;
use vbare::OwnedVersionedData;

use crate::error::StartError;

/// The actor generation a `/start` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartCommand {
    pub(crate) actor_id: String,
    pub(crate) generation: u32,
    pub(crate) actor_name: String,
}

pub(crate) fn decode(body: &[u8]) -> Result<StartCommand, StartError> {
    let bad = |msg: String| StartError::BadPayload(msg);
    let (version, message) = match body {
        [lo, hi, rest @ ..] => (u16::from_le_bytes([*lo, *hi]), rest),
        _ => return Err(bad(format!("{} bytes is too short", body.len()))),
    };
    if version != protocol::PROTOCOL_VERSION {
        return Err(bad(format!(
            "protocol version {version}, but this runner speaks {} (check /metadata envoyProtocolVersion)",
            protocol::PROTOCOL_VERSION
        )));
    }
    let decoded = protocol::versioned::ToEnvoy::deserialize(message, version)
        .map_err(|err| bad(format!("not a BARE ToEnvoy message: {err}")))?;
    let protocol::ToEnvoy::ToEnvoyCommands(commands) = decoded else {
        return Err(bad("expected ToEnvoyCommands".to_owned()));
    };
    let [command] = commands.as_slice() else {
        return Err(bad(format!(
            "expected exactly one command, got {}",
            commands.len()
        )));
    };
    let protocol::Command::CommandStartActor(start) = &command.inner else {
        return Err(bad("expected CommandStartActor".to_owned()));
    };
    Ok(StartCommand {
        actor_id: command.checkpoint.actor_id.clone(),
        generation: command.checkpoint.generation,
        actor_name: start.config.name.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A start body laid out byte by byte as the engine sends it (engine-protocol.md §2.2),
    /// at protocol version 8.
    pub(crate) fn golden_start(actor_id: &str, generation: u32) -> Vec<u8> {
        let mut body = vec![8, 0, 1, 1]; // version 8, ToEnvoyCommands, one command
        body.push(actor_id.len() as u8);
        body.extend_from_slice(actor_id.as_bytes());
        body.extend_from_slice(&generation.to_le_bytes());
        body.extend_from_slice(&0i64.to_le_bytes()); // checkpoint.index
        body.push(0); // CommandStartActor
        body.push(7);
        body.extend_from_slice(b"counter");
        body.extend_from_slice(&[1, 6]);
        body.extend_from_slice(b"room/1");
        body.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
        body.extend_from_slice(&[1, 8]);
        body.extend_from_slice(b"hi-input");
        body.extend_from_slice(&[0, 0]); // no hibernating requests, no preloaded KV
        body
    }

    #[test]
    fn decodes_the_golden_body() {
        let id = "14filwavj06wqezdgwajdu5fvlal00";
        let start = decode(&golden_start(id, 3)).unwrap();
        assert_eq!(
            start,
            StartCommand {
                actor_id: id.into(),
                generation: 3,
                actor_name: "counter".into()
            }
        );
    }

    #[test]
    fn rejects_other_versions_truncation_and_garbage() {
        let mut old = golden_start("a", 1);
        old[0] = 6;
        assert!(
            decode(&old)
                .unwrap_err()
                .to_string()
                .contains("protocol version 6")
        );
        let full = golden_start("a", 1);
        assert!(decode(&full[..full.len() - 3]).is_err());
        assert!(decode(b"x").is_err());
        assert!(decode(b"\x08\x00garbage-garbage").is_err());
    }

    #[test]
    fn rejects_a_stop_command() {
        let mut body = vec![8, 0, 1, 1, 1, b'a'];
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&1i64.to_le_bytes());
        body.extend_from_slice(&[1, 0]); // CommandStopActor, SLEEP_INTENT
        assert!(
            decode(&body)
                .unwrap_err()
                .to_string()
                .contains("CommandStartActor")
        );
    }
}
