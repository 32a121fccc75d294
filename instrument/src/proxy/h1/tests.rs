//! The upstream client against raw servers on loopback that write exactly the bytes a test gives them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::{Client, Outgoing, SendError};

/// What a raw server does with each request on a connection: the writes of its answer (with a pause before each
/// after the first), and whether it closes the connection afterwards.
#[derive(Clone)]
struct Answer {
    writes: Vec<&'static [u8]>,
    pause: Duration,
    close: bool,
}

fn answer(bytes: &'static [u8]) -> Answer {
    Answer {
        writes: vec![bytes],
        pause: Duration::ZERO,
        close: false,
    }
}

/// A server whose `n`th request (over all connections) gets `script(n)`, `None` meaning: read the request, then
/// close without answering. Returns its address and the count of connections it accepted.
async fn raw_server(
    script: impl Fn(usize) -> Option<Answer> + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let script = Arc::new(script);
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let (script, requests) = (script.clone(), requests.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: its head, then a content-length body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    let Some(a) = script(n) else { return };
                    for (i, w) in a.writes.iter().enumerate() {
                        if i > 0 {
                            tokio::time::sleep(a.pause).await;
                        }
                        if s.write_all(w).await.is_err() {
                            return;
                        }
                    }
                    if a.close {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), conns)
}

fn client(url: &str) -> Client {
    let roots = rustls::RootCertStore::empty();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Client::new(&url.parse().unwrap(), &tls, Duration::from_secs(2), 8)
}

/// Sends `method` to `/x` and reads the whole body, frame by frame.
async fn exchange(
    c: &Client,
    method: Method,
    body: &'static [u8],
) -> Result<(u16, Vec<Bytes>), String> {
    let r = c
        .send(
            &method,
            "/x",
            &HeaderMap::new(),
            Outgoing::Whole(Bytes::from_static(body)),
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = r.status().as_u16();
    let mut body = r.into_body();
    let mut frames = Vec::new();
    while let Some(f) = body.frame().await {
        let f = f.map_err(|e| e.to_string())?;
        if let Ok(d) = f.into_data() {
            frames.push(d);
        }
    }
    Ok((status, frames))
}

fn joined(frames: &[Bytes]) -> Vec<u8> {
    frames.iter().flat_map(|f| f.iter().copied()).collect()
}

#[tokio::test]
async fn one_connection_serves_request_after_request() {
    let (url, conns) =
        raw_server(|_| Some(answer(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"))).await;
    let c = client(&url);
    for _ in 0..5 {
        let (status, frames) = exchange(&c, Method::POST, b"{}").await.unwrap();
        assert_eq!((status, joined(&frames)), (200, b"hello".to_vec()));
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1, "kept alive");
    assert_eq!(c.pool.idle(), 1);
}

#[tokio::test]
async fn what_one_read_brings_is_one_frame_and_nothing_waits_for_more() {
    // 100 chunks in one write, then after a pause the rest: two reads, two frames.
    const FIRST: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut chunks = String::new();
    for i in 0..100 {
        let line = format!("{{\"t\":{i}}}\n");
        chunks.push_str(&format!("{:x}\r\n{line}\r\n", line.len()));
    }
    let chunks: &'static [u8] = Box::leak(chunks.into_bytes().into_boxed_slice());
    let (url, _) = raw_server(move |_| {
        Some(Answer {
            writes: vec![FIRST, chunks, b"4\r\nlast\r\n0\r\n\r\n"],
            pause: Duration::from_millis(100),
            close: false,
        })
    })
    .await;
    let c = client(&url);
    let (_, frames) = exchange(&c, Method::POST, b"{}").await.unwrap();
    let expected: String = (0..100)
        .map(|i| format!("{{\"t\":{i}}}\n"))
        .collect::<String>()
        + "last";
    assert_eq!(String::from_utf8(joined(&frames)).unwrap(), expected);
    assert_eq!(frames.len(), 2, "one frame per read: {frames:?}");
    assert_eq!(
        c.pool.idle(),
        1,
        "a chunked body read to its end frees the connection"
    );
}

#[tokio::test]
async fn bodies_until_close_and_short_bodies() {
    let (url, _) = raw_server(|n| {
        Some(match n {
            0 => Answer {
                close: true,
                ..answer(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
            },
            _ => Answer {
                close: true,
                ..answer(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort")
            },
        })
    })
    .await;
    let c = client(&url);
    let (_, frames) = exchange(&c, Method::GET, b"").await.unwrap();
    assert_eq!(joined(&frames), b"until the end");
    assert_eq!(
        c.pool.idle(),
        0,
        "a connection the server closes is not kept"
    );
    let e = exchange(&c, Method::GET, b"").await.unwrap_err();
    assert!(e.contains("5 bytes before the body's end"), "{e}");
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_not_used() {
    // Each answer says keep-alive, then the server closes 50 ms later (as uvicorn does after its keep-alive time).
    let (url, conns) = raw_server(|_| {
        Some(Answer {
            writes: vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", b""],
            pause: Duration::from_millis(50),
            close: true,
        })
    })
    .await;
    let c = client(&url);
    for _ in 0..3 {
        let (status, _) = exchange(&c, Method::POST, b"{}").await.unwrap();
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_request_lost_with_its_reused_connection_is_sent_again_only_when_safe() {
    // The first request on each connection is answered; the second is read and then the connection is closed.
    let (url, conns) = raw_server(|n| {
        (n % 2 == 0).then(|| answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"))
    })
    .await;
    let c = client(&url);
    assert_eq!(exchange(&c, Method::GET, b"").await.unwrap().0, 200);
    // GET is idempotent: lost on the reused connection, sent again on a new one.
    assert_eq!(exchange(&c, Method::GET, b"").await.unwrap().0, 200);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    // A POST the server had whole may have been acted on (a generation started): not sent twice.
    let e = exchange(&c, Method::POST, b"{}").await.unwrap_err();
    assert!(e.contains("closed the connection without answering"), "{e}");
    assert_eq!(conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn interim_answers_are_skipped_and_a_broken_head_is_an_error() {
    let (url, _) = raw_server(|n| {
        Some(match n {
            0 => answer(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n",
            ),
            _ => Answer {
                close: true,
                ..answer(b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n")
            },
        })
    })
    .await;
    let c = client(&url);
    assert_eq!(exchange(&c, Method::POST, b"{}").await.unwrap().0, 201);
    match c
        .send(
            &Method::POST,
            "/x",
            &HeaderMap::new(),
            Outgoing::Whole(Bytes::new()),
        )
        .await
    {
        Err(SendError::Upstream(e)) => assert!(e.contains("invalid content-length"), "{e}"),
        other => panic!("{:?}", other.map(|r| r.status())),
    }
}

#[tokio::test]
async fn a_server_that_is_not_there_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = client(&format!("http://{addr}"));
    match c
        .send(
            &Method::GET,
            "/",
            &HeaderMap::new(),
            Outgoing::Whole(Bytes::new()),
        )
        .await
    {
        Err(SendError::Upstream(e)) => assert!(e.starts_with(&format!("connect {addr}: ")), "{e}"),
        other => panic!("{:?}", other.map(|r| r.status())),
    }
}

#[tokio::test]
async fn https_upstreams_are_spoken_to_over_tls_on_kept_connections() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(s).await else {
                    return;
                };
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..i + 4);
                        let body = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nsecure\r\n0\r\n\r\n";
                        if s.write_all(body).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let c = Client::new(
        &format!("https://localhost:{port}/").parse().unwrap(),
        &tls,
        Duration::from_secs(2),
        8,
    );
    for _ in 0..3 {
        let (status, frames) = exchange(&c, Method::GET, b"").await.unwrap();
        assert_eq!((status, joined(&frames)), (200, b"secure".to_vec()));
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "the TLS connection is kept alive"
    );
}
