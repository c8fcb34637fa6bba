//! Direct uploads (a presigned PUT, then `uploaded=<id>`) are stored once per charge, only by the account that
//! started them, and as the version that was checked (issue 24, item 1).

use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::harness::http_raw;
use serde_json::Value;
use shared::adapters::s3::S3Files;
use shared::usecase::ports::{FileArea, FileStore};

fn files_vars(uploads_per_hour: &str) -> [(&'static str, String); 4] {
    [
        ("UPLOADS_PER_HOUR", uploads_per_hour.to_owned()),
        ("UPLOAD_URL", String::new()),
        ("FILE_URL", String::new()),
        ("DOWNLOAD_URL", String::new()),
    ]
}

async fn files_app(uploads_per_hour: &str) -> TestApp {
    let vars = files_vars(uploads_per_hour);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(&vars).await
}

fn bucket(t: &TestApp) -> String {
    t.app.config.files.as_ref().expect("files are on").bucket.clone()
}

async fn s3() -> aws_sdk_s3::Client {
    shared::app::s3_client(&shared::app::sdk_config().await)
}

/// How many attachments the bucket holds.
async fn stored_attachments(t: &TestApp) -> usize {
    let listed = s3().await.list_objects_v2().bucket(bucket(t)).prefix("attachments/").send().await.unwrap();
    listed.contents().len()
}

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n";

/// Starts a direct upload of `PDF`: the reply.
async fn start(t: &TestApp, token: &str) -> Reply {
    t.call(HttpCall::post("/upload").form(&[("size", &PDF.len().to_string())]).bearer(token)).await
}

/// Sends `body` with the presigned PUT of a started upload.
async fn put(started: &Value, body: &[u8]) -> u16 {
    presigned_put(&started["upload"], body).await
}

async fn finish(t: &TestApp, token: &str, uploaded: &str) -> Reply {
    t.call(HttpCall::post("/upload").form(&[("uploaded", uploaded)]).bearer(token)).await
}

#[tokio::test]
async fn a_direct_upload_is_stored_once_by_the_account_that_started_it() {
    let t = files_app("3").await;
    let (me, thief) = (t.sign_in(random_phone().e164()).await, t.sign_in(random_phone().e164()).await);
    let started = start(&t, &me).await;
    assert_eq!(started.status, 200, "{:?}", started.json);
    let uploaded = started.json["uploaded"].as_str().unwrap().to_owned();

    let early = finish(&t, &me, &uploaded).await;
    assert_eq!((early.status, early.error()), (404, "NOTFOUND"), "nothing arrived yet: {:?}", early.json);
    assert_eq!(put(&started.json, PDF).await, 200);

    let stolen = finish(&t, &thief, &uploaded).await;
    assert_eq!((stolen.status, stolen.error()), (404, "NOTFOUND"), "another account: {:?}", stolen.json);
    assert_eq!(stored_attachments(&t).await, 0);

    // Eight finishes at once (the upload was given back after the early one): one stores it, the rest find nothing.
    let finishes = (0..8).map(|_| finish(&t, &me, &uploaded));
    let replies = futures::future::join_all(finishes).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 7, "{statuses:?}");
    assert_eq!(stored_attachments(&t).await, 1);

    // The presigned PUT still works for a while: sending it again stores nothing more.
    assert_eq!(put(&started.json, PDF).await, 200);
    let again = finish(&t, &me, &uploaded).await;
    assert_eq!((again.status, again.error()), (404, "NOTFOUND"), "{:?}", again.json);
    assert_eq!(stored_attachments(&t).await, 1, "one stored file per charge");

    // The hour's other two uploads are left, and no more.
    for _ in 0..2 {
        assert_eq!(start(&t, &me).await.status, 200);
    }
    let over = start(&t, &me).await;
    assert_eq!((over.status, over.error()), (429, "RATELIMIT"), "{:?}", over.json);
    let holds = t.items_with_sk_prefix("PENDING").await;
    assert_eq!(holds.len(), 2, "the two started uploads are held, the stored one is not: {holds:?}");
    assert!(holds.iter().all(|item| !format!("{item:?}").contains(&uploaded)), "ids are kept as fingerprints");
}

#[tokio::test]
async fn a_refused_direct_upload_is_gone_and_a_file_replaced_after_its_check_is_not_copied() {
    let t = files_app("10").await;
    let me = t.sign_in(random_phone().e164()).await;
    let started = start(&t, &me).await;
    let uploaded = started.json["uploaded"].as_str().unwrap().to_owned();
    let mut script = b"<html><script>alert(1)</script>".to_vec();
    script.resize(PDF.len(), b' ');
    assert_eq!(put(&started.json, &script).await, 200);
    let refused = finish(&t, &me, &uploaded).await;
    assert_eq!((refused.status, refused.error()), (415, "BADFILETYPE"), "{:?}", refused.json);
    assert_eq!(put(&started.json, PDF).await, 200);
    let after = finish(&t, &me, &uploaded).await;
    assert_eq!((after.status, after.error()), (404, "NOTFOUND"), "a refused upload is not checked again");
    assert_eq!(stored_attachments(&t).await, 0);

    // The copy is conditioned on the version that was checked.
    let files = S3Files::new(s3().await, bucket(&t));
    files.put(FileArea::Pending, "swapped", PDF.to_vec(), "application/octet-stream").await.unwrap();
    let checked = files.read_start(FileArea::Pending, "swapped", 8192, None).await.unwrap().unwrap();
    files.put(FileArea::Pending, "swapped", script.clone(), "application/octet-stream").await.unwrap();
    let copied = files.copy((FileArea::Pending, "swapped"), &checked.version, (FileArea::Attachments, "x.pdf"), "a/b");
    // (moto ignores the copy's condition and copies anyway: the ETag comparison refuses it; that copy is never
    // named to anyone, and the lifecycle removes it.)
    assert!(!copied.await.unwrap(), "a file replaced after its check is not taken as stored");
    let read = files.read_start(FileArea::Pending, "swapped", 1 << 20, Some(&checked.version)).await.unwrap();
    assert_eq!(read, None, "nor read whole");
}

/// A GIF with an XMP block holding GPS, as some editors write them.
fn gif_with_gps() -> Vec<u8> {
    let packet = b"<x:xmpmeta><exif:GPSLatitude>48,51.5N</exif:GPSLatitude></x:xmpmeta>";
    let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xff\x0bXMP DataXMP".to_vec();
    gif.push(packet.len() as u8);
    gif.extend_from_slice(packet);
    gif.extend_from_slice(b"\x00!\xfe\x05home!\x00");
    gif.extend_from_slice(b"!\xf9\x04\x01\x0a\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;");
    gif
}

/// Follows a download link: the redirect's headers, then the file's headers and bytes.
async fn download(t: &TestApp, url: &str) -> (Vec<(String, String)>, Vec<(String, String)>, Vec<u8>) {
    let path = &url[url.find("/files/").unwrap()..];
    let reply = t.call(HttpCall { method: "GET".into(), ..HttpCall::post(path) }).await;
    assert_eq!(reply.status, 302, "{url}: {:?}", reply.json);
    let redirect: Vec<(String, String)> =
        reply.headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned())).collect();
    let location = reply.headers["location"].to_str().unwrap().to_owned();
    let (status, headers, bytes) = http_raw("GET", &location, &[], &[]).await;
    assert_eq!(status, 200, "{location}");
    (redirect, headers, bytes)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn gifs_lose_their_metadata_either_way_and_downloads_are_attachments_of_the_sniffed_type() {
    let t = files_app("10").await;
    let me = t.sign_in(random_phone().e164()).await;
    let contains = |bytes: &[u8], needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);

    let sent = t
        .call(
            HttpCall::post("/upload").multipart(&[("token", &me)], &[("photo", "a.gif", "image/gif", &gif_with_gps())]),
        )
        .await;
    assert_eq!(sent.status, 200, "{:?}", sent.json);
    let (redirect, headers, bytes) = download(&t, sent.json["file"].as_str().unwrap()).await;
    assert!(bytes.starts_with(b"GIF89a") && !contains(&bytes, b"GPSLatitude") && !contains(&bytes, b"home"));
    assert_eq!(header(&redirect, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "content-type"), Some("image/gif"));
    assert!(header(&headers, "content-disposition").is_some_and(|d| d.starts_with("attachment")), "{headers:?}");

    // A GIF sent straight to storage is cleaned the same way.
    let gif = gif_with_gps();
    let started = t.call(HttpCall::post("/upload").form(&[("size", &gif.len().to_string())]).bearer(&me)).await;
    assert_eq!(put(&started.json, &gif).await, 200);
    let done = finish(&t, &me, started.json["uploaded"].as_str().unwrap()).await;
    assert_eq!(done.status, 200, "{:?}", done.json);
    let (_, _, bytes) = download(&t, done.json["file"].as_str().unwrap()).await;
    assert!(bytes.starts_with(b"GIF89a") && !contains(&bytes, b"GPSLatitude"));

    // A text file is checked for markup throughout, not only at its start.
    let mut note = "a plain note\n".repeat(60).into_bytes();
    note.extend_from_slice(b"<script>alert(1)</script>");
    let refused = t
        .call(HttpCall::post("/upload").multipart(&[("token", &me)], &[("photo", "a.txt", "text/plain", &note)]))
        .await;
    assert_eq!((refused.status, refused.error()), (415, "BADFILETYPE"), "{:?}", refused.json);
}

/// Storage failing while an upload is confirmed: 503, the upload is still held (given back), nothing is stored,
/// and the same confirm stores it once storage is back.
#[tokio::test]
async fn a_confirm_that_meets_a_storage_failure_is_a_503_and_can_be_repeated() {
    use integration_tests::fault_proxy::{Fault, FaultProxy};
    let t = files_app("10").await;
    let proxy = FaultProxy::start(&stack_env("AWS_ENDPOINT_URL_S3")).await;
    let sdk = shared::app::sdk_config().await;
    let through_proxy = aws_sdk_s3::config::Builder::from(&sdk).endpoint_url(&proxy.url).force_path_style(true);
    let proxied = aws_sdk_s3::Client::from_conf(through_proxy.build());
    let deployed = t.deployed.map(|deployed| deployed.with_s3(proxied.clone()));
    let t = TestApp { app: t.app.with_files(proxied), deployed, ..t };
    let me = t.sign_in(random_phone().e164()).await;
    let started = start(&t, &me).await;
    let uploaded = started.json["uploaded"].as_str().unwrap().to_owned();
    // Sent around the proxy: the client's PUT is not what is tested here.
    let direct = s3().await;
    direct
        .put_object()
        .bucket(bucket(&t))
        .key(format!("pending/{uploaded}"))
        .body(PDF.to_vec().into())
        .send()
        .await
        .unwrap();

    proxy.inject(Fault::Refuse, None, None);
    let failed = finish(&t, &me, &uploaded).await;
    assert_eq!((failed.status, failed.error()), (503, "UNAVAILABLE"), "{:?}", failed.json);
    assert_eq!(t.items_with_sk_prefix("PENDING").await.len(), 1, "the upload is held again");
    proxy.heal();
    assert_eq!(stored_attachments(&t).await, 0);
    let done = finish(&t, &me, &uploaded).await;
    assert_eq!(done.status, 200, "{:?}", done.json);
    assert_eq!(stored_attachments(&t).await, 1);
    assert!(t.items_with_sk_prefix("PENDING").await.is_empty());
}

/// A file's links are public, so each file is sent at most DOWNLOADS_PER_FILE_PER_HOUR times an hour: past it 429
/// RATELIMIT with Retry-After (nothing more leaves the bucket), another file is not affected, and the next hour
/// sends it again.
#[tokio::test]
async fn one_file_is_sent_at_most_its_hourly_downloads() {
    let t = spawn_app_with(&[("DOWNLOADS_PER_FILE_PER_HOUR", "3"), ("DOWNLOAD_URL", ""), ("FILE_URL", "")]).await;
    let name = |hex: &str| format!("/files/p1796600000-{hex}.jpg");
    let (popular, other) = (name(&"a".repeat(32)), name(&"b".repeat(32)));
    let get = |path: &str| t.call(HttpCall { method: "GET".into(), ..HttpCall::post(path) });
    let start = shared::Clock::now(t.clock.as_ref());
    t.clock.advance(3600 - start.rem_euclid(3600) + 1);
    for _ in 0..3 {
        assert_eq!(get(&popular).await.status, 302);
    }
    let refused = get(&popular).await;
    assert_eq!((refused.status, refused.error()), (429, "RATELIMIT"), "{:?}", refused.json);
    assert!(refused.headers.contains_key("retry-after") && refused.headers.get("location").is_none());
    assert_eq!(get(&other).await.status, 302, "another file is not affected");
    t.clock.advance(3600);
    assert_eq!(get(&popular).await.status, 302, "the next hour sends it again");
    assert!(t.metrics.limits_hit().contains(&"downloads".to_owned()), "{:?}", t.metrics.limits_hit());
}
