//! A guest that misbehaves on request (runs forever, allocates without bound, panics) and
//! probes the sandbox's walls (paths outside its mount, the environment, sockets, SQL that
//! reaches outside its database). The runner's sandbox tests call it; every probe reports what
//! happened instead of failing, so a test can tell "refused" from "allowed".

use std::io::{Read, Write};

use rivet_actor_guest::{ActionError, Actions, Actor, Ctx, export_actor};

struct Probe;

impl Actor for Probe {
    type State = u64;
    type Input = ();

    fn create_state(_input: Option<()>) -> Result<u64, ActionError> {
        Ok(0)
    }

    fn actions(actions: &mut Actions<Self>) {
        actions
            .add("ping", |ctx: &mut Ctx<Self>, (): ()| {
                *ctx.state_mut()? += 1;
                Ok(*ctx.state()?)
            })
            .add(
                "spin",
                |_: &mut Ctx<Self>, (): ()| -> Result<(), ActionError> {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                },
            )
            .add("hog", |_: &mut Ctx<Self>, (mib,): (usize,)| {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                for _ in 0..mib {
                    blocks.push(vec![1u8; 1 << 20]);
                }
                Ok(blocks.len())
            })
            .add(
                "panic",
                |_: &mut Ctx<Self>, (): ()| -> Result<(), ActionError> {
                    panic!("the probe panicked on purpose")
                },
            )
            .add("readFile", |_: &mut Ctx<Self>, (path,): (String,)| {
                Ok(read(&path))
            })
            .add(
                "writeFile",
                |ctx: &mut Ctx<Self>, (name, text): (String, String)| {
                    let path = ctx.files_dir().join(name);
                    Ok(std::fs::File::create(path)
                        .and_then(|mut f| f.write_all(text.as_bytes()))
                        .map_or_else(|e| format!("error: {e}"), |()| "ok".to_owned()))
                },
            )
            .add("listDir", |_: &mut Ctx<Self>, (path,): (String,)| {
                Ok(std::fs::read_dir(&path).map_or_else(
                    |e| format!("error: {e}"),
                    |dir| {
                        let mut names: Vec<String> = dir
                            .filter_map(|e| {
                                e.ok().map(|e| e.file_name().to_string_lossy().into_owned())
                            })
                            .collect();
                        names.sort();
                        names.join(",")
                    },
                ))
            })
            .add("env", |_: &mut Ctx<Self>, (): ()| {
                Ok(std::env::vars()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>()
                    .join(","))
            })
            .add("connect", |_: &mut Ctx<Self>, (addr,): (String,)| {
                Ok(std::net::TcpStream::connect(addr.as_str())
                    .map_or_else(|e| format!("error: {e}"), |_| "connected".to_owned()))
            })
            .add("sleep", |_: &mut Ctx<Self>, (secs,): (u64,)| {
                std::thread::sleep(std::time::Duration::from_secs(secs));
                Ok("woke")
            })
            .add("sqlForever", |ctx: &mut Ctx<Self>, (): ()| {
                // Ignores the error a stopped statement returns, as careless code would.
                let _ = ctx.query(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                     SELECT count(*) FROM c",
                    &[],
                );
                Ok("returned")
            })
            .add("loopSchedule", |ctx: &mut Ctx<Self>, (): ()| {
                *ctx.state_mut()? += 1;
                ctx.schedule_after(std::time::Duration::ZERO, "loopSchedule", &())
            })
            .add(
                "writeWasi",
                |_: &mut Ctx<Self>, (name, text): (String, String)| {
                    // Straight through WASI, without asking the runner for the mount first.
                    Ok(std::fs::write(format!("/data/{name}"), text)
                        .map_or_else(|e| format!("error: {e}"), |()| "ok".to_owned()))
                },
            )
            .add("sql", |ctx: &mut Ctx<Self>, (sql,): (String,)| {
                Ok(ctx
                    .execute(&sql, &[])
                    .map_or_else(|e| format!("error: {}", e.message), |n| format!("ok: {n}")))
            });
    }
}

fn read(path: &str) -> String {
    let mut text = String::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)) {
        Ok(_) => text,
        Err(e) => format!("error: {e}"),
    }
}

export_actor!(Probe);
