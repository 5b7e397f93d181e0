//! The lab's nats-server: its config, and the per-host permissions FLEET.md documents.

/// What host `host` may do on the NATS servers, exactly as FLEET.md gives it: publish bans on
/// its own subject only, and use the JetStream API of palisade's ban stream and list bucket
/// (found by running every fleet path under it and reading the server's violations).
pub fn permissions(host: &str) -> String {
    let publish = [
        format!("palisade.bans.{host}"),
        "$JS.API.STREAM.INFO.PALISADE_BANS".into(),
        "$JS.API.STREAM.CREATE.PALISADE_BANS".into(),
        "$JS.API.CONSUMER.CREATE.PALISADE_BANS".into(),
        "$JS.API.CONSUMER.CREATE.PALISADE_BANS.>".into(),
        "$JS.API.CONSUMER.DELETE.PALISADE_BANS.*".into(),
        "$JS.FC.>".into(),
        "$JS.API.STREAM.INFO.OBJ_palisade-lists".into(),
        "$JS.API.STREAM.CREATE.OBJ_palisade-lists".into(),
        "$JS.API.STREAM.PURGE.OBJ_palisade-lists".into(),
        "$JS.API.DIRECT.GET.OBJ_palisade-lists.>".into(),
        "$JS.API.CONSUMER.CREATE.OBJ_palisade-lists".into(),
        "$JS.API.CONSUMER.CREATE.OBJ_palisade-lists.>".into(),
        "$JS.API.CONSUMER.DELETE.OBJ_palisade-lists.*".into(),
        "$O.palisade-lists.>".into(),
    ];
    let publish: Vec<String> = publish.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "{{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [\"_INBOX.>\"] }} }}",
        publish.join(", ")
    )
}

/// A single JetStream server on `listen`, storing under `store`, with `authorization` (a
/// block, or nothing for anonymous clients).
pub fn config(listen: &str, store: &std::path::Path, authorization: &str) -> String {
    format!(
        "server_name: lab\nlisten: \"{listen}\"\njetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 64MB\n  max_file_store: 256MB\n}}\n{authorization}",
        store.display()
    )
}
