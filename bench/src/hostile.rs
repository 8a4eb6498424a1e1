//! `--hostile SECONDS`: the server's memory under hostile requests (F29). `vision serve` (rate
//! limits off, so nothing but the per-request bounds protects it) takes, for SECONDS, from
//! `--concurrency` attackers at once, every kind of request the hostile-request suite refuses:
//! oversized and deeply nested JSON, query-size, alias and depth floods, huge batches, files
//! past the upload limit streamed in, too many parts, corrupt images and decompression bombs,
//! bad keys; meanwhile slow-header connections (slowloris) and every WebSocket session a caller
//! may hold, each with every subscription it may run, sit open. Its resident memory is sampled
//! throughout; a normal query every 200 ms shows it keeps answering. Prints the figures and
//! writes them (default `bench/results/hostile-memory.json`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::report::{Percentiles, write_json};
use crate::{Args, server};

/// Slow-header connections held open at once.
const SLOWLORIS: usize = 200;
/// WebSocket sessions tried at once (the server admits 32 per caller).
const SOCKETS: usize = 40;
/// Subscriptions started per session (the server runs 64).
const SUBSCRIPTIONS: usize = 65;

/// One kind of hostile request, built once and sent again and again.
struct Attack {
    name: &'static str,
    content_type: String,
    body: Bytes,
    /// Extra headers (CSRF preflight, a bad key).
    headers: Vec<(&'static str, String)>,
}

#[derive(Default, Serialize)]
struct Tally {
    sent: u64,
    /// Answers by HTTP status (or `cut off` when the server closed the connection first).
    answers: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Figures {
    seconds: u64,
    attackers: usize,
    requests: BTreeMap<&'static str, Tally>,
    requests_per_s: f64,
    rss_mib: RssFigures,
    probe: ProbeFigures,
    slowloris: SlowFigures,
    websocket: SocketFigures,
}

#[derive(Serialize)]
struct RssFigures {
    /// Before any attack, after a warm-up of normal requests.
    baseline: f64,
    attack_p50: f64,
    attack_max: f64,
    first_half_max: f64,
    second_half_max: f64,
    /// Ten seconds after the attack ends.
    after: f64,
    samples: usize,
}

#[derive(Serialize)]
struct ProbeFigures {
    ok: u64,
    failed: u64,
    latency: Option<Percentiles>,
    max_ms: f64,
}

#[derive(Default, Serialize)]
struct SlowFigures {
    opened: u64,
    /// Closed by the server (header read timeout).
    cut_off: u64,
}

#[derive(Default, Serialize)]
struct SocketFigures {
    admitted: u64,
    /// Closed with 4429 (too many sessions for one caller).
    refused_4429: u64,
    subscriptions_refused: u64,
}

pub async fn run(args: &Args, seconds: u64) -> anyhow::Result<()> {
    let server = server::Server::start(args).await?;
    let pid = server
        .pids()
        .first()
        .map(|(_, pid)| *pid)
        .ok_or_else(|| anyhow::anyhow!("no server process"))?;
    let result = attack(&server.url, pid, seconds, args.concurrency).await;
    server.stop().await;
    let figures = result?;
    print(&figures);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| "bench/results/hostile-memory.json".into());
    write_json(&figures, &out)?;
    anyhow::ensure!(
        figures.probe.failed == 0,
        "{} normal queries failed during the attack",
        figures.probe.failed
    );
    Ok(())
}

async fn attack(url: &str, pid: u32, seconds: u64, attackers: usize) -> anyhow::Result<Figures> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    // Warm up with normal requests, then the baseline.
    for _ in 0..50 {
        probe(&http, url).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = rss_mib(pid).unwrap_or(0.0);

    let attacks = Arc::new(attacks());
    let tallies: Arc<Mutex<BTreeMap<&'static str, Tally>>> = Arc::default();
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for attacker in 0..attackers {
        let (http, url, attacks, tallies) = (
            http.clone(),
            url.to_string(),
            attacks.clone(),
            tallies.clone(),
        );
        tasks.spawn(async move {
            let mut turn = attacker;
            while Instant::now() < until {
                let attack = &attacks[turn % attacks.len()];
                turn += 1;
                let answer = send(&http, &url, attack).await;
                let mut tallies = tallies.lock().expect("tallies");
                let tally = tallies.entry(attack.name).or_default();
                tally.sent += 1;
                *tally.answers.entry(answer).or_default() += 1;
            }
        });
    }
    let slow = Arc::new(Mutex::new(SlowFigures::default()));
    for _ in 0..SLOWLORIS {
        let (address, slow) = (host(url), slow.clone());
        tasks.spawn(async move { slowloris(&address, until, &slow).await });
    }
    let sockets = Arc::new(Mutex::new(SocketFigures::default()));
    for _ in 0..SOCKETS {
        let (url, sockets) = (url.to_string(), sockets.clone());
        tasks.spawn(async move {
            let _ = websocket(&url, until, &sockets).await;
        });
    }
    // Memory and a normal query, side by side with the attack.
    let mut rss = Vec::new();
    let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Vec::new());
    while Instant::now() < until {
        if let Some(mib) = rss_mib(pid) {
            rss.push((started.elapsed(), mib));
        }
        let sent = Instant::now();
        match probe(&http, url).await {
            Ok(()) => {
                ok += 1;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Err(_) => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while tasks.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = rss_mib(pid).unwrap_or(0.0);
    probe(&http, url).await?;

    let half = Duration::from_secs(seconds) / 2;
    let max = |samples: &mut dyn Iterator<Item = f64>| samples.fold(0.0f64, f64::max);
    let mut values: Vec<f64> = rss.iter().map(|(_, mib)| *mib).collect();
    values.sort_by(f64::total_cmp);
    let requests = std::mem::take(&mut *tallies.lock().expect("tallies"));
    let total: u64 = requests.values().map(|t| t.sent).sum();
    Ok(Figures {
        seconds,
        attackers,
        requests_per_s: total as f64 / seconds as f64,
        requests,
        rss_mib: RssFigures {
            baseline,
            attack_p50: values.get(values.len() / 2).copied().unwrap_or(0.0),
            attack_max: values.last().copied().unwrap_or(0.0),
            first_half_max: max(&mut rss.iter().filter(|(t, _)| *t < half).map(|(_, m)| *m)),
            second_half_max: max(&mut rss.iter().filter(|(t, _)| *t >= half).map(|(_, m)| *m)),
            after,
            samples: rss.len(),
        },
        probe: ProbeFigures {
            ok,
            failed,
            max_ms: latencies.iter().copied().fold(0.0, f64::max),
            latency: Percentiles::of(latencies),
        },
        slowloris: std::mem::take(&mut *slow.lock().expect("slow")),
        websocket: std::mem::take(&mut *sockets.lock().expect("sockets")),
    })
}

/// A normal query, answered with data.
async fn probe(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let body: serde_json::Value = http
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": "{ classes }" }))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(body["data"]["classes"].is_array(), "{body}");
    Ok(())
}

/// Sends one hostile request; its HTTP status, or what happened instead.
async fn send(http: &reqwest::Client, url: &str, attack: &Attack) -> String {
    let mut request = http
        .post(format!("{url}/graphql"))
        .header("content-type", &attack.content_type)
        .body(attack.body.clone());
    for (name, value) in &attack.headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16().to_string();
            let _ = response.bytes().await;
            status
        }
        Err(e) if e.is_timeout() => "timed out".into(),
        Err(_) => "cut off".into(),
    }
}

const BOUNDARY: &str = "hostile-boundary";

/// A GraphQL multipart upload of `files` (name, bytes), each bound to `uploadImages`.
fn multipart(files: &[(String, Bytes)]) -> (String, Bytes) {
    let operations = json!({
        "query": "mutation($f: [Upload!]!) { uploadImages(files: $f) { accepted { id } } }",
        "variables": { "f": vec![serde_json::Value::Null; files.len()] },
    });
    let map: serde_json::Map<String, serde_json::Value> = (0..files.len())
        .map(|i| (i.to_string(), json!([format!("variables.f.{i}")])))
        .collect();
    let mut body = Vec::new();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", serde_json::Value::Object(map).to_string()),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (i, (file, bytes)) in files.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{i}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={BOUNDARY}"),
        Bytes::from(body),
    )
}

fn attacks() -> Vec<Attack> {
    let json = |name, body: String| Attack {
        name,
        content_type: "application/json".into(),
        body: Bytes::from(body),
        headers: Vec::new(),
    };
    let upload = |name, files: Vec<(String, Bytes)>| {
        let (content_type, body) = multipart(&files);
        Attack {
            name,
            content_type,
            body,
            headers: vec![("apollo-require-preflight", "true".into())],
        }
    };
    let aliases: String = (0..5000).map(|i| format!("a{i}: __typename ")).collect();
    let deep = format!("{}{}", "{ images { ".repeat(40), "} ".repeat(40));
    let batch: Vec<_> = (0..1000)
        .map(|_| json!({ "query": "{ classes }" }))
        .collect();
    let junk: Bytes = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(7919) % 251) as u8)
        .collect();
    vec![
        json(
            "json over 1 MiB",
            format!(
                "{{\"query\":\"{{ classes }}\",\"variables\":{{\"x\":\"{}\"}}}}",
                "a".repeat(2 * 1024 * 1024)
            ),
        ),
        json(
            "json nested 100,000 deep",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        json(
            "query of 1 MiB",
            json!({ "query": format!("{{ classes }} #{}", "x".repeat(1024 * 1024 - 64)) })
                .to_string(),
        ),
        json(
            "5,000 aliases",
            json!({ "query": format!("{{ {aliases} }}") }).to_string(),
        ),
        json("depth 40", json!({ "query": deep }).to_string()),
        json(
            "batch of 1,000",
            serde_json::Value::Array(batch).to_string(),
        ),
        Attack {
            headers: vec![(
                "authorization",
                "Bearer vk_not_a_key_0123456789abcdef".into(),
            )],
            ..json("bad key", json!({ "query": "{ classes }" }).to_string())
        },
        Attack {
            content_type: "text/plain".into(),
            ..json(
                "text/plain mutation (CSRF)",
                json!({ "query": "mutation { startReplay(input: {}) { id } }" }).to_string(),
            )
        },
        upload(
            "file of 24 MiB",
            vec![("big.png".into(), Bytes::from(vec![0u8; 24 * 1024 * 1024]))],
        ),
        upload(
            "1,000 files",
            (0..1000)
                .map(|i| (format!("{i}.png"), Bytes::from_static(b"x")))
                .collect(),
        ),
        upload(
            "64 corrupt images of 1 MiB",
            (0..64)
                .map(|i| (format!("{i}.png"), junk.clone()))
                .collect(),
        ),
        upload(
            "decompression bomb",
            vec![("bomb.png".into(), Bytes::from(png_claiming(60_000, 60_000)))],
        ),
    ]
}

/// A PNG whose header claims `width` x `height` (a decompression bomb's signature).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An IDAT that is far too short: only the header matters.
    let idat = b"IDAT\x78\x9c\x63\x00\x00\x00\x01\x00\x01".to_vec();
    png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    png.extend_from_slice(&idat);
    png.extend_from_slice(&crc32(&idat).to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `host:port` of `url`.
fn host(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// Holds a connection that sends its headers a byte a second, reopening it whenever the server
/// cuts it off, until `until`.
async fn slowloris(address: &str, until: Instant, figures: &Mutex<SlowFigures>) {
    while Instant::now() < until {
        let Ok(mut stream) = tokio::net::TcpStream::connect(address).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        figures.lock().expect("slow").opened += 1;
        let mut cut_off = stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err();
        while !cut_off && Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(1)).await;
            cut_off = stream.write_all(b"X").await.is_err();
        }
        if cut_off {
            figures.lock().expect("slow").cut_off += 1;
        }
    }
}

/// Opens a session, starts [`SUBSCRIPTIONS`] subscriptions on it and holds it until `until`.
async fn websocket(
    url: &str,
    until: Instant,
    figures: &Mutex<SocketFigures>,
) -> anyhow::Result<()> {
    let mut request = format!("ws://{}/graphql", host(url)).into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket
        .send(Message::Text(
            json!({ "type": "connection_init", "payload": {} })
                .to_string()
                .into(),
        ))
        .await?;
    let mut subscribed = false;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let message = match tokio::time::timeout(left, socket.next()).await {
            Err(_) => break,
            Ok(Some(Ok(message))) => message,
            Ok(_) => break,
        };
        match message {
            Message::Text(text) => {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                match value["type"].as_str() {
                    Some("connection_ack") if !subscribed => {
                        subscribed = true;
                        figures.lock().expect("sockets").admitted += 1;
                        for i in 0..SUBSCRIPTIONS {
                            let start = json!({
                                "id": format!("s{i}"),
                                "type": "subscribe",
                                "payload": { "query": "subscription { imageCompleted { id } }" },
                            });
                            socket.send(Message::Text(start.to_string().into())).await?;
                        }
                    }
                    Some("error") => figures.lock().expect("sockets").subscriptions_refused += 1,
                    _ => {}
                }
            }
            Message::Close(Some(frame)) if u16::from(frame.code) == 4429 => {
                figures.lock().expect("sockets").refused_4429 += 1;
                break;
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = socket.close(None).await;
    Ok(())
}

/// The resident memory of `pid` now (VmRSS), in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn print(figures: &Figures) {
    println!(
        "\nHostile requests for {} s from {} attackers ({:.0} requests/s), {SLOWLORIS} slow-header connections, {SOCKETS} WebSocket sessions x {SUBSCRIPTIONS} subscriptions",
        figures.seconds, figures.attackers, figures.requests_per_s
    );
    println!("  {:<30} {:>7}  answers", "request", "sent");
    for (name, tally) in &figures.requests {
        let answers: Vec<String> = tally
            .answers
            .iter()
            .map(|(answer, n)| format!("{answer}: {n}"))
            .collect();
        println!("  {name:<30} {:>7}  {}", tally.sent, answers.join(", "));
    }
    let rss = &figures.rss_mib;
    println!(
        "  RSS MiB: baseline {:.1}, during p50 {:.1} / max {:.1} (first half max {:.1}, second half max {:.1}), 10 s after {:.1}",
        rss.baseline,
        rss.attack_p50,
        rss.attack_max,
        rss.first_half_max,
        rss.second_half_max,
        rss.after
    );
    let (p50, p99) = figures
        .probe
        .latency
        .as_ref()
        .map_or((0.0, 0.0), |p| (p.p50_ms, p.p99_ms));
    println!(
        "  normal query every 200 ms: {} ok, {} failed, p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms",
        figures.probe.ok, figures.probe.failed, figures.probe.max_ms
    );
    println!(
        "  slowloris: {} opened, {} cut off by the server; WebSocket: {} admitted, {} refused (4429), {} subscriptions refused",
        figures.slowloris.opened,
        figures.slowloris.cut_off,
        figures.websocket.admitted,
        figures.websocket.refused_4429,
        figures.websocket.subscriptions_refused
    );
}
