//! The Dockerfile and docker-compose.yml, read as text, so they cannot rot silently while nobody
//! builds the image (CI has no Docker engine; scripts/docker-build.sh builds and runs it):
//!
//! - every path the Dockerfile copies exists and is not left out of the build context by
//!   .dockerignore, and every file or directory compose builds from or mounts exists;
//! - every base image and every compose `image:` is pinned to a version: no `latest`, no tag-less
//!   image, no bare major (`rust:1`, `redis:7-bookworm`), no release name alone
//!   (`debian:bookworm-slim`); the image compose builds is tagged with the package version;
//! - the HEALTHCHECK needs no curl or wget: it is `tickrouter healthcheck`, parsed by the real
//!   command line, and asks the port the container listens on;
//! - compose's command for tickrouter parses with the real command line, and the settings it
//!   resolves from each mountable file (deploy/docker/*.toml) validate; the client port is
//!   published, the admin port (`server.admin_bind`) only on the host's loopback;
//! - Redis persists (append-only file) to a named volume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use tickrouter::cli::{Cli, Command};
use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Where compose mounts the settings file in the container.
const CONTAINER_CONFIG: &str = "/etc/tickrouter/tickrouter.toml";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile

/// One instruction: its keyword (upper case) and the rest, continuation lines joined.
struct Instruction {
    keyword: String,
    args: String,
    line: usize,
}

fn dockerfile() -> Vec<Instruction> {
    let text = read("Dockerfile");
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_none()) {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                joined.push_str(part);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(trimmed);
                let (keyword, args) = joined
                    .split_once(char::is_whitespace)
                    .unwrap_or((&joined, ""));
                out.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_owned(),
                    line: start,
                });
            }
        }
    }
    assert!(pending.is_none(), "Dockerfile ends in a continuation line");
    out
}

/// The words of an exec-form (`["a", "b"]`) or shell-form argument list.
fn words(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("not a JSON array: {args}: {e}"))
    } else {
        args.split_whitespace().map(str::to_owned).collect()
    }
}

/// `--name=value` options first, then the rest.
fn options(words: &[String]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut opts = BTreeMap::new();
    let mut rest = Vec::new();
    for word in words {
        match word.strip_prefix("--").and_then(|o| o.split_once('=')) {
            Some((name, value)) if rest.is_empty() => {
                opts.insert(name.to_owned(), value.to_owned());
            }
            _ => rest.push(word.clone()),
        }
    }
    (opts, rest)
}

/// Why an image reference does not pin a version, if it does not. Pinned: a digest, or a tag
/// with a major.minor version (`1.95.0-bookworm`, `12.15-slim`, `7.4.11`) or a dated snapshot
/// (`bookworm-20260803-slim`).
fn unpinned(image: &str) -> Option<String> {
    if image.contains("@sha256:") {
        return None;
    }
    let name_end = image.rfind('/').map_or(0, |slash| slash + 1);
    let Some((_, tag)) = image[name_end..].split_once(':') else {
        return Some(format!("{image}: no tag, which means latest"));
    };
    if tag == "latest" {
        return Some(format!("{image}: latest floats"));
    }
    let bytes = tag.as_bytes();
    let digits_at = |at: usize| {
        let n = bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        (n > 0).then_some(n)
    };
    let versioned = (0..bytes.len()).any(|at| {
        let starts = at == 0 || !bytes[at - 1].is_ascii_digit();
        starts
            && match digits_at(at) {
                Some(8) => true, // a dated snapshot, e.g. bookworm-20260803
                Some(n) => bytes.get(at + n) == Some(&b'.') && digits_at(at + n + 1).is_some(),
                None => false,
            }
    });
    (!versioned).then(|| {
        format!("{image}: `{tag}` floats (a bare major or a release name); pin major.minor or a dated tag")
    })
}

#[test]
fn the_pin_rule_itself() {
    for floating in [
        "rust",
        "rust:latest",
        "rust:1",
        "rust:1-bookworm",
        "redis:7",
        "redis:7-bookworm",
        "debian:bookworm-slim",
        "debian:12-slim",
        "registry.example.com:5000/tickrouter",
    ] {
        assert!(unpinned(floating).is_some(), "{floating} counted as pinned");
    }
    for pinned in [
        "rust:1.95.0-bookworm",
        "rust:1.95-bookworm",
        "debian:bookworm-20260803-slim",
        "debian:12.15-slim",
        "redis:7.4.11-bookworm",
        "registry.example.com:5000/tickrouter:0.1.0",
        "redis@sha256:0123456789abcdef",
    ] {
        assert_eq!(unpinned(pinned), None, "{pinned}");
    }
}

/// Whether .dockerignore leaves `path` (relative to the context) out of the build context:
/// the last matching pattern wins, `!` re-includes, `**` spans directories, `*` stays within a
/// name, and a matching directory takes everything under it.
fn dockerignored(path: &str) -> bool {
    fn glob(pattern: &str, name: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == name,
            Some((head, tail)) => {
                name.starts_with(head)
                    && (head.len()..=name.len()).any(|at| glob(tail, &name[at..]))
            }
        }
    }
    fn prefix_matches(pattern: &[&str], path: &[&str]) -> bool {
        match (pattern.first(), path.first()) {
            (None, _) => true,
            (Some(&"**"), _) => {
                (0..=path.len()).any(|skip| prefix_matches(&pattern[1..], &path[skip..]))
            }
            (Some(p), Some(name)) => glob(p, name) && prefix_matches(&pattern[1..], &path[1..]),
            (Some(_), None) => false,
        }
    }
    let components: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut ignored = false;
    for line in read(".dockerignore").lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (include, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, line),
        };
        let pattern: Vec<&str> = pattern
            .trim_matches('/')
            .split('/')
            .filter(|c| !c.is_empty())
            .collect();
        if prefix_matches(&pattern, &components) {
            ignored = !include;
        }
    }
    ignored
}

#[test]
fn the_dockerfile_copies_only_what_the_build_context_has() {
    let mut stages = Vec::new();
    let mut copies = 0;
    for ins in dockerfile() {
        match ins.keyword.as_str() {
            "FROM" => {
                let words = words(&ins.args);
                if let [_, as_, name] = words.as_slice() {
                    assert!(as_.eq_ignore_ascii_case("as"), "Dockerfile:{}", ins.line);
                    stages.push(name.clone());
                }
            }
            "COPY" | "ADD" => {
                assert_eq!(
                    ins.keyword, "COPY",
                    "Dockerfile:{}: ADD fetches and unpacks; COPY",
                    ins.line
                );
                let (opts, paths) = options(&words(&ins.args));
                assert!(
                    paths.len() >= 2,
                    "Dockerfile:{}: COPY needs a source and a destination",
                    ins.line
                );
                if let Some(stage) = opts.get("from") {
                    assert!(
                        stages.contains(stage),
                        "Dockerfile:{}: no earlier stage {stage}",
                        ins.line
                    );
                    continue;
                }
                for source in &paths[..paths.len() - 1] {
                    assert!(
                        Path::new(ROOT).join(source).exists(),
                        "Dockerfile:{}: COPY {source}: no such file or directory in the repository",
                        ins.line
                    );
                    assert!(
                        !dockerignored(source),
                        "Dockerfile:{}: COPY {source}: .dockerignore leaves it out of the build context",
                        ins.line
                    );
                    copies += 1;
                }
            }
            _ => {}
        }
    }
    assert!(
        copies >= 4,
        "the Dockerfile copies the manifests, src, static and config"
    );
    assert!(dockerignored("target/release/tickrouter") && dockerignored("tests/it/main.rs"));
    assert!(!dockerignored("src/main.rs") && !dockerignored("static"));
}

#[test]
fn every_base_image_is_pinned_to_a_version() {
    let mut stages: Vec<String> = Vec::new();
    let mut bases = 0;
    for ins in dockerfile().into_iter().filter(|i| i.keyword == "FROM") {
        let (_, words) = options(&words(&ins.args));
        let image = &words[0];
        if !stages.contains(image) {
            if let Some(why) = unpinned(image) {
                panic!("Dockerfile:{}: FROM {why}", ins.line);
            }
            bases += 1;
        }
        if let [_, _, name] = words.as_slice() {
            stages.push(name.clone());
        }
    }
    assert_eq!(bases, 2, "a build stage and a runtime stage");
}

/// The port of an `ip:port` or `http://ip:port/path`.
fn port(address: &str) -> u16 {
    let authority = address.strip_prefix("http://").unwrap_or(address);
    let authority = authority.split('/').next().unwrap();
    let (_, port) = authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port: {address}"));
    port.parse().unwrap_or_else(|e| panic!("{address}: {e}"))
}

fn parse_cli(words: &[String]) -> Command {
    let argv = std::iter::once("tickrouter".to_owned()).chain(words.iter().cloned());
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("`tickrouter {}`: {e}", words.join(" ")))
        .command
}

/// What the Dockerfile's HEALTHCHECK runs, parsed by the real command line: its URL's port.
fn healthcheck_port() -> u16 {
    let ins = dockerfile()
        .into_iter()
        .find(|i| i.keyword == "HEALTHCHECK")
        .expect("the image has a HEALTHCHECK");
    let (_, rest) = options(&words(
        &ins.args[..ins.args.find("CMD").expect("HEALTHCHECK CMD")],
    ));
    assert!(rest.is_empty(), "HEALTHCHECK options: {rest:?}");
    let cmd = ins.args[ins.args.find("CMD").unwrap() + 3..].trim();
    for tool in ["curl", "wget", "nc "] {
        assert!(
            !cmd.contains(tool),
            "the HEALTHCHECK uses {tool}: the runtime image has none"
        );
    }
    let words = words(cmd);
    assert_eq!(
        words[0], "tickrouter",
        "the HEALTHCHECK runs the binary itself: {cmd}"
    );
    match parse_cli(&words[1..]) {
        Command::Healthcheck(args) => port(&args.url),
        other => panic!("the HEALTHCHECK runs {other:?}, not `tickrouter healthcheck`"),
    }
}

#[test]
fn the_healthcheck_is_the_binary_asking_the_port_the_container_serves() {
    let health = healthcheck_port();
    let instructions = dockerfile();
    let exposed: Vec<u16> = instructions
        .iter()
        .filter(|i| i.keyword == "EXPOSE")
        .flat_map(|i| words(&i.args))
        .map(|p| p.split('/').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        exposed.contains(&health),
        "HEALTHCHECK asks :{health}, EXPOSE says {exposed:?}"
    );
    let cmd = instructions
        .iter()
        .rfind(|i| i.keyword == "CMD")
        .expect("a CMD");
    match parse_cli(&words(&cmd.args)) {
        Command::Serve(args) => {
            let bind = args
                .bind
                .expect("the image's CMD binds the container's port");
            assert_eq!(
                bind.port(),
                health,
                "CMD serves :{}, HEALTHCHECK asks :{health}",
                bind.port()
            );
            assert!(
                bind.ip().is_unspecified(),
                "the CMD must bind 0.0.0.0 to be reachable: {bind}"
            );
        }
        other => panic!("the image's CMD is {other:?}, not `serve`"),
    }
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

fn compose() -> Yaml {
    compose_file("docker-compose.yml")
}

/// Every compose file of the repository: the single-instance one and the cluster kit.
const COMPOSE_FILES: [&str; 2] = ["docker-compose.yml", "docker-compose.cluster.yml"];

fn compose_file(name: &str) -> Yaml {
    YamlLoader::load_from_str(&read(name))
        .unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
        .remove(0)
}

/// `${NAME:-default}` -> default, `${NAME}` -> "" (what compose does with NAME unset).
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("unclosed ${") + at;
        let inner = &rest[at + 2..end];
        if let Some((_, default)) = inner.split_once(":-").or_else(|| inner.split_once('-')) {
            out.push_str(default);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn strings(yaml: &Yaml) -> Vec<String> {
    yaml.as_vec()
        .map(|v| {
            v.iter()
                .map(|s| interpolate(s.as_str().expect("a string")))
                .collect()
        })
        .unwrap_or_default()
}

fn services(compose: &Yaml) -> Vec<(String, Yaml)> {
    compose["services"]
        .as_hash()
        .expect("services")
        .iter()
        .map(|(name, service)| (name.as_str().unwrap().to_owned(), service.clone()))
        .collect()
}

/// A compose path (relative to the compose file's directory, the repository root) on this disk.
fn host_path(path: &str) -> PathBuf {
    Path::new(ROOT).join(path)
}

/// (host path or volume name, container path) of each short-syntax volume.
fn mounts(service: &Yaml) -> Vec<(String, String)> {
    strings(&service["volumes"])
        .iter()
        .map(|spec| {
            let mut parts = spec.splitn(3, ':');
            let source = parts.next().unwrap().to_owned();
            let target = parts
                .next()
                .unwrap_or_else(|| panic!("anonymous volume {spec}"))
                .to_owned();
            (source, target)
        })
        .collect()
}

/// Published ports: (host address or "" for every interface, host port, container port).
fn ports(service: &Yaml) -> Vec<(String, u16, u16)> {
    strings(&service["ports"])
        .iter()
        .map(|spec| {
            let spec = spec.split('/').next().unwrap();
            let parts: Vec<&str> = spec.split(':').collect();
            let n = |s: &str| {
                s.parse::<u16>()
                    .unwrap_or_else(|e| panic!("port {spec}: {e}"))
            };
            match parts.as_slice() {
                [container] => (String::new(), 0, n(container)),
                [host, container] => (String::new(), n(host), n(container)),
                [ip, host, container] => ((*ip).to_owned(), n(host), n(container)),
                _ => panic!("port {spec}"),
            }
        })
        .collect()
}

#[test]
fn compose_builds_and_mounts_only_what_exists_and_pins_its_images() {
    for file in COMPOSE_FILES {
        builds_and_mounts_only_what_exists_and_pins_its_images(file);
    }
}

fn builds_and_mounts_only_what_exists_and_pins_its_images(file: &str) {
    let compose = compose_file(file);
    let declared: Vec<String> = compose["volumes"]
        .as_hash()
        .map(|h| h.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    let mut built = 0;
    for (name, service) in services(&compose) {
        match &service["build"] {
            Yaml::BadValue => {}
            build => {
                let (context, dockerfile) = match build.as_str() {
                    Some(context) => (context.to_owned(), "Dockerfile".to_owned()),
                    None => (
                        build["context"].as_str().unwrap_or(".").to_owned(),
                        build["dockerfile"]
                            .as_str()
                            .unwrap_or("Dockerfile")
                            .to_owned(),
                    ),
                };
                assert!(
                    host_path(&context).is_dir(),
                    "{name}: build context {context} is missing"
                );
                assert!(
                    host_path(&context).join(&dockerfile).is_file(),
                    "{name}: {context}/{dockerfile} is missing"
                );
                // The tag compose gives the image it builds: the version, so a stale build of
                // another version is never mistaken for this one.
                let image = service["image"]
                    .as_str()
                    .expect("a built service names its image");
                assert_eq!(
                    image,
                    format!("tickrouter:{}", env!("CARGO_PKG_VERSION")),
                    "{name}: tag the built image with the package version"
                );
                built += 1;
            }
        }
        let image = service["image"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no image"));
        if let Some(why) = unpinned(&interpolate(image)) {
            panic!("{file}, {name}: {why}");
        }
        for (source, target) in mounts(&service) {
            if source.starts_with('.') || source.starts_with('/') {
                assert!(
                    host_path(&source).exists(),
                    "{name}: mounts {source} at {target}, which does not exist"
                );
            } else {
                assert!(
                    declared.contains(&source),
                    "{name}: volume {source} is not declared"
                );
            }
        }
    }
    assert!(built >= 1, "compose builds the image");
}

#[test]
fn redis_persists_to_a_named_volume() {
    let compose = compose();
    let (_, redis) = services(&compose)
        .into_iter()
        .find(|(name, _)| name == "redis")
        .expect("a redis service");
    let command = strings(&redis["command"]);
    let option = |name: &str| {
        let at = command.iter().position(|w| w == name)?;
        command.get(at + 1).map(String::as_str)
    };
    assert_eq!(
        option("--appendonly"),
        Some("yes"),
        "Redis holds job records, rules and watchlists: persistence on (AOF): {command:?}"
    );
    assert_ne!(option("--save"), Some(""), "RDB snapshots off: {command:?}");
    assert!(
        mounts(&redis)
            .iter()
            .any(|(source, target)| target == "/data" && !source.starts_with('.')),
        "Redis's /data is a named volume"
    );
}

/// compose's command for tickrouter, with the mounted settings file's container path replaced
/// by `file` on this disk, parsed by the real command line and resolved with compose's
/// environment: the settings the container would run with.
fn compose_settings(service: &Yaml, file: &Path) -> tickrouter::config::Settings {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if let Some(hash) = service["environment"].as_hash() {
        for (key, value) in hash {
            let value = match value {
                Yaml::String(s) => interpolate(s),
                other => format!("{other:?}"),
            };
            env.insert(key.as_str().unwrap().to_owned(), value);
        }
    }
    let words: Vec<String> = strings(&service["command"])
        .into_iter()
        .map(|w| {
            if w == CONTAINER_CONFIG {
                file.display().to_string()
            } else {
                w
            }
        })
        .collect();
    let lookup = |name: &str| env.get(name).cloned();
    match parse_cli(&words) {
        Command::Serve(args) => args
            .settings(&lookup)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        other => panic!("compose runs {other:?}, not `serve`"),
    }
}

#[test]
fn compose_runs_tickrouter_with_a_valid_mounted_config_and_a_private_admin_port() {
    let compose = compose();
    let services = services(&compose);
    let (_, tickrouter) = services
        .iter()
        .find(|(name, _)| name == "tickrouter")
        .expect("a tickrouter service");
    let (default_file, _) = mounts(tickrouter)
        .into_iter()
        .find(|(_, target)| target == CONTAINER_CONFIG)
        .unwrap_or_else(|| panic!("compose mounts the settings at {CONTAINER_CONFIG}"));
    assert!(
        strings(&tickrouter["volumes"])
            .iter()
            .any(|v| v.contains(CONTAINER_CONFIG) && v.ends_with(":ro")),
        "the settings are mounted read-only"
    );
    let published = ports(tickrouter);
    let health = healthcheck_port();

    // Every file meant to be mounted there: the default and the demo's.
    let mut files: Vec<PathBuf> = std::fs::read_dir(host_path("deploy/docker"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let default_file = host_path(&default_file).canonicalize().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.canonicalize().unwrap() == default_file),
        "compose mounts {} by default, not a file of deploy/docker",
        default_file.display()
    );
    let mut demo = 0;
    for file in &files {
        let settings = compose_settings(tickrouter, file);
        let shown = file.display();
        let bind = settings.server.bind;
        assert_eq!(
            bind.port(),
            health,
            "{shown}: serves :{}, the HEALTHCHECK asks :{health}",
            bind.port()
        );
        assert!(
            published
                .iter()
                .any(|(ip, _, container)| ip.is_empty() && *container == bind.port()),
            "{shown}: the client port {} is not published: {published:?}",
            bind.port()
        );
        let admin = settings.server.admin_bind.unwrap_or_else(|| {
            panic!("{shown}: server.admin_bind keeps /metrics off the client port")
        });
        let admin_published: Vec<_> = published
            .iter()
            .filter(|(_, _, container)| *container == admin.port())
            .collect();
        assert!(
            !admin_published.is_empty(),
            "{shown}: the admin port {} is not published",
            admin.port()
        );
        for (ip, host, _) in admin_published {
            assert_eq!(
                ip, "127.0.0.1",
                "{shown}: the admin port is published as {ip}:{host}, beyond this machine"
            );
        }
        assert_eq!(
            settings.redis.url, "redis://redis:6379/0",
            "{shown}: the compose Redis"
        );
        demo += usize::from(settings.server.demo_mode);
    }
    assert_eq!(
        demo, 1,
        "deploy/docker/demo.toml, and only it, turns demo mode on"
    );
    let (_, producer) = services
        .iter()
        .find(|(_, s)| strings(&s["profiles"]).contains(&"demo".to_owned()))
        .expect("a service in the demo profile");
    assert_eq!(strings(&producer["command"])[0], "demo");
    assert_eq!(
        producer["healthcheck"]["disable"].as_bool(),
        Some(true),
        "the producer serves no HTTP: the image's HEALTHCHECK would mark it unhealthy"
    );
}

#[test]
fn the_cluster_kit_runs_three_instances_on_every_master_of_its_cluster() {
    let compose = compose_file("docker-compose.cluster.yml");
    let services = services(&compose);
    let nodes: Vec<String> = services
        .iter()
        .filter(|(name, _)| name.starts_with("redis-") && name != "redis-init")
        .map(|(_, s)| {
            let ip = s["networks"]["tickrouter"]["ipv4_address"]
                .as_str()
                .unwrap();
            format!("redis://{ip}:6379")
        })
        .collect();
    assert_eq!(nodes.len(), 3, "three masters");
    let instances: Vec<&(String, Yaml)> = services
        .iter()
        .filter(|(name, _)| name.starts_with("tickrouter-"))
        .collect();
    assert_eq!(instances.len(), 3);
    for (name, service) in instances {
        let (file, _) = mounts(service)
            .into_iter()
            .find(|(_, target)| target == CONTAINER_CONFIG)
            .unwrap_or_else(|| panic!("{name} mounts its settings at {CONTAINER_CONFIG}"));
        let settings = compose_settings(service, &host_path(&file));
        assert_eq!(
            settings.redis.cluster, nodes,
            "{name}: every master is a seed"
        );
        assert!(
            settings.server.admin_bind.is_some(),
            "{name}: /metrics off the client port"
        );
    }
    let init = strings(&services.iter().find(|(n, _)| n == "redis-init").unwrap().1["command"]);
    for node in &nodes {
        let address = node.trim_start_matches("redis://");
        assert!(
            init[0].contains(address),
            "redis-init joins {address}: {init:?}"
        );
    }
}
