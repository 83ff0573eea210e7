//! Which part of an actor a tunnelled request addresses.

/// A request path as the actor sees it (after `/gateway/{actorId}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActorRoute {
    /// `POST /action/{name}`.
    Action(String),
    /// `GET /connect` (WebSocket).
    Connect,
    /// `POST /queue/{name}`: a message for the actor's queue.
    Queue(String),
    /// `/request/*`: raw HTTP for the actor's own handler; the path has `/request` removed.
    Request(String),
    /// `GET /health`.
    Health,
    /// Anything else.
    NotFound,
}

/// Routes a path (query string included).
pub(crate) fn route_path(path: &str) -> ActorRoute {
    let (bare, query) = match path.split_once('?') {
        Some((bare, query)) => (bare, Some(query)),
        None => (path, None),
    };
    if let Some(rest) = bare
        .strip_prefix("/request")
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    {
        let mut inner = if rest.is_empty() { "/" } else { rest }.to_owned();
        if let Some(query) = query {
            inner.push('?');
            inner.push_str(query);
        }
        return ActorRoute::Request(inner);
    }
    if let Some(name) = bare
        .strip_prefix("/action/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
    {
        return ActorRoute::Action(percent_decode(name));
    }
    if let Some(name) = bare
        .strip_prefix("/queue/")
        .filter(|name| !name.is_empty() && !name.contains('/'))
    {
        return ActorRoute::Queue(percent_decode(name));
    }
    match bare {
        "/connect" | "/connect/" => ActorRoute::Connect,
        "/health" => ActorRoute::Health,
        _ => ActorRoute::NotFound,
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route_path("/action/increment"),
            ActorRoute::Action("increment".into())
        );
        assert_eq!(
            route_path("/action/a%20b?x=1"),
            ActorRoute::Action("a b".into())
        );
        assert_eq!(route_path("/connect"), ActorRoute::Connect);
        assert_eq!(
            route_path("/request/hello?x=1"),
            ActorRoute::Request("/hello?x=1".into())
        );
        assert_eq!(route_path("/request"), ActorRoute::Request("/".into()));
        assert_eq!(route_path("/requests"), ActorRoute::NotFound);
        assert_eq!(route_path("/action/"), ActorRoute::NotFound);
        assert_eq!(route_path("/health"), ActorRoute::Health);
    }
}
