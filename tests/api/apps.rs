//! mesibo's messenger apps, unmodified: their requests replayed as they send them (the 2021 Android app's
//! `SampleAPI.java` and `MesiboFileTransferHelper.java`, the iOS app's `SampleAPI.m`: method, encoding, parameter
//! names, multipart bodies with a real JPEG), and every answer read as their parsers read it (Gson's types on
//! Android, `NSDictionary` accessors on iOS). A type the app cannot read is a failure here, as it is a crash there.

use base64::Engine;
use integration_tests::*;
use local_stack::apigw::HttpCall;
use local_stack::harness::http_raw;
use serde_json::Value;

/// Where the 2021 apps post: `https://app.mesibo.com/messenger/api.php`.
const API: &str = "/messenger/api.php";
const APP: &str = "com.mesibo.messenger";
/// What `Mesibo.getDeviceType()` gave on Android (sent as `dt` on every API call).
const DT: &str = "1";
/// The FCM sender id the Android app sends as `fcmid`.
const FCM_SENDER: &str = "470359684336";

/// A JPEG as a phone camera writes it: 1600×1200 with an EXIF segment holding GPS coordinates.
fn camera_jpeg() -> Vec<u8> {
    use image::codecs::jpeg::JpegEncoder;
    let picture = image::RgbImage::from_fn(1600, 1200, |x, y| image::Rgb([(x / 7) as u8, (y / 5) as u8, 90]));
    let mut jpeg = vec![];
    JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&picture).unwrap();
    let exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude=48.85837;GPSLongitude=2.29448";
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((exif.len() + 2) as u16).to_be_bytes());
    out.extend(exif);
    out.extend(&jpeg[2..]);
    out
}

fn has_gps(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"GPSLatitude")
}

/// Reads an answer as the Android app's Gson model (`SampleAPI.Response`) does, failing where Gson would throw or
/// the app would crash: `op` and `result` present, `gid`/`ts` longs (a number or a numeric string), `profile` an
/// int, text fields strings (absent is "", JSON null is a crash), `contacts` an array, `urls`/`share` objects.
fn android_reads(reply: &Reply) -> Result<(), String> {
    let json = &reply.json;
    if reply.status != 200 {
        return Err(format!("HTTP {}: the SDK reports a network failure", reply.status));
    }
    let string = |v: &Value, field: &str| match &v[field] {
        Value::Null if v.get(field).is_some() => Err(format!("{field} is null")),
        Value::Null | Value::String(_) => Ok(()),
        other => Err(format!("{field} is not a string: {other}")),
    };
    let long = |v: &Value, field: &str| match &v[field] {
        Value::Null if v.get(field).is_none() => Ok(()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(()),
        Value::String(s) if s.parse::<i64>().is_ok() => Ok(()),
        other => Err(format!("{field} is no long: {other}")),
    };
    for field in ["op", "result"] {
        json[field].as_str().ok_or(format!("{field} missing: the handler dereferences it"))?;
    }
    for field in ["error", "errmsg", "name", "status", "photo", "phone", "tn", "members", "token", "file", "cc"] {
        string(json, field)?;
    }
    for field in ["gid", "ts", "profile"] {
        long(json, field)?;
    }
    for field in ["urls", "share", "u"] {
        if !matches!(json[field], Value::Null | Value::Object(_)) || json.get(field).is_some_and(Value::is_null) {
            return Err(format!("{field} is not an object"));
        }
    }
    if let Some(contacts) = json.get("contacts") {
        for entry in contacts.as_array().ok_or("contacts is not an array")? {
            for field in ["name", "phone", "status", "photo", "tn", "members"] {
                string(entry, field)?;
            }
            long(entry, "gid")?;
            long(entry, "ts")?;
            // `createContact`: a group without `members` (null) is a NullPointerException.
            if entry["gid"].as_u64().is_some_and(|g| g != 0) && entry["members"].is_null() {
                return Err("a group entry without members".into());
            }
        }
    }
    Ok(())
}

/// The iOS app's reading where it differs: `result` compared with `isEqualToString:@"OK"`; `gid` (of a group
/// reply, and of every contact entry in `createContact`) read with `unsignedIntValue`, which only NSNumber has;
/// `phone` a string.
fn ios_reads(reply: &Reply) -> Result<(), String> {
    let json = &reply.json;
    let gid_is_number = |v: &Value| v.get("gid").is_none_or(|gid| gid.as_u64().is_some());
    if json["result"] != "OK" && json["result"] != "FAIL" {
        return Err(format!("result {:?}", json["result"]));
    }
    if !gid_is_number(json) {
        return Err(format!("gid {} is no NSNumber", json["gid"]));
    }
    for entry in json["contacts"].as_array().into_iter().flatten() {
        if !gid_is_number(entry) || !entry["phone"].is_string() {
            return Err(format!("contact entry {entry} is not what createContact reads"));
        }
    }
    Ok(())
}

fn ios_reads_group_reply(reply: &Reply) -> Result<u64, String> {
    ios_reads(reply)?;
    reply.json["gid"].as_u64().ok_or(format!("gid {} is no NSNumber", reply.json["gid"]))
}

fn ok(reply: &Reply) -> &Value {
    android_reads(reply).unwrap_or_else(|e| panic!("the Android app cannot read {}: {e}", reply.json));
    ios_reads(reply).unwrap_or_else(|e| panic!("the iOS app cannot read {}: {e}", reply.json));
    assert!(reply.json["result"].as_str().unwrap().eq_ignore_ascii_case("OK"), "{}", reply.json);
    &reply.json
}

/// A form post, as `Mesibo.Http` sends a `postBundle`.
fn form(pairs: &[(&str, &str)]) -> HttpCall {
    HttpCall::post(API).form(pairs)
}

fn random_indian() -> shared::PhoneNumber {
    let india = shared::DefaultRegion::from_iso("IN").unwrap();
    loop {
        let digits = random_hex(5).bytes().map(|b| (b % 10 + b'0') as char).take(8).collect::<String>();
        if let Some(phone) = shared::PhoneNumber::parse(&format!("+9198{digits}"), india) {
            return phone;
        }
    }
}

/// The Android app's sign-in: `op=login` with the number as country code + digits, then again with the code.
async fn android_sign_in(t: &TestApp, phone: &shared::PhoneNumber) -> Value {
    ok(&t.call(form(&[("op", "login"), ("appid", APP), ("phone", phone.digits()), ("dt", DT)])).await);
    let code = last_sms_code(phone.e164()).await.expect("a code by SMS");
    let signed =
        t.call(form(&[("op", "login"), ("appid", APP), ("phone", phone.digits()), ("code", &code), ("dt", DT)]));
    ok(&signed.await).clone()
}

/// Follows a download URL the way the apps' HTTP client does (a redirect to a signed link); the file's bytes.
async fn download(t: &TestApp, url: &str) -> Vec<u8> {
    let path = url.split_once("://").map_or(url, |(_, rest)| &rest[rest.find('/').unwrap_or(rest.len())..]);
    let reply = t.call(HttpCall { method: "GET".into(), ..HttpCall::post(path) }).await;
    assert_eq!(reply.status, 302, "{url}: {:?}", reply.json);
    let location = reply.headers["location"].to_str().unwrap().to_owned();
    let (status, _, bytes) = http_raw("GET", &location, &[], &[]).await;
    assert_eq!(status, 200, "{location}");
    bytes
}

async fn files_app() -> TestApp {
    // This deployment's own upload and download URLs (no external ones configured).
    spawn_app_with(&[("UPLOAD_URL", ""), ("FILE_URL", ""), ("DOWNLOAD_URL", "")]).await
}

#[tokio::test]
async fn the_android_app_signs_in_syncs_and_registers_for_push() {
    let t = files_app().await;
    let (me, friend, abroad) = (random_indian(), random_indian(), random_phone());
    for other in [&friend, &abroad] {
        t.sign_in(other.e164()).await;
    }
    let signed = android_sign_in(&t, &me).await;
    let token = signed["token"].as_str().unwrap().to_owned();
    assert_eq!(signed["phone"], me.digits());
    assert!(signed["urls"]["upload"].as_str().unwrap().ends_with(API.trim_start_matches("/messenger")));
    assert!(signed["urls"]["download"].as_str().unwrap().ends_with("/files/"));

    // The first sync after sign-in: reset, no numbers; then the phone book in batches, every number as country
    // code + digits (a US contact of an Indian user: before, `invalid:1`).
    let first = t.call(form(&[
        ("op", "getcontacts"),
        ("token", &token),
        ("hidden", "0"),
        ("reset", "1"),
        ("ts", "0"),
        ("dt", DT),
    ]));
    ok(&first.await);
    let book = [friend.digits(), abroad.digits(), "919999", "12"].join(",");
    let synced = t.call(form(&[
        ("op", "getcontacts"),
        ("token", &token),
        ("hidden", "0"),
        ("ts", "0"),
        ("phones", &book),
        ("dt", DT),
    ]));
    let synced = ok(&synced.await).clone();
    let mut found: Vec<&str> =
        synced["contacts"].as_array().unwrap().iter().map(|c| c["phone"].as_str().unwrap()).collect();
    found.sort();
    let mut expected = vec![friend.digits(), abroad.digits()];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(synced["invalid"], 2);

    // What the backend wrote is accepted back as written: the numbers it answered, sent again.
    let again = t.call(form(&[("op", "getcontacts"), ("token", &token), ("phones", &found.join(",")), ("dt", DT)]));
    assert_eq!(ok(&again.await)["contacts"].as_array().unwrap().len(), 2);
    t.clock.advance(60);
    let own =
        t.call(form(&[("op", "login"), ("appid", APP), ("phone", signed["phone"].as_str().unwrap()), ("dt", DT)]));
    ok(&own.await);
    assert_eq!(sms_to(me.e164()).await.len(), 2, "the number it was given signs in as the same number");

    // setnotify as the Android app sends it: no platform, the FCM sender id as fcmid.
    let fcm_token = format!("dKx3{}:APA91bH{}", random_hex(4), random_hex(60));
    let notify = t.call(form(&[
        ("op", "setnotify"),
        ("token", &token),
        ("notifytoken", &fcm_token),
        ("fcmid", FCM_SENDER),
        ("dt", DT),
    ]));
    ok(&notify.await);
    let devices = t.items_with_sk_prefix("DEVICE#").await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["platform"].as_s().unwrap(), "fcm");

    // profile as the app sends it (with gid=0).
    let profile = t.call(form(&[
        ("op", "profile"),
        ("token", &token),
        ("name", "Asha"),
        ("status", "hi"),
        ("gid", "0"),
        ("dt", DT),
    ]));
    assert_eq!(ok(&profile.await)["u"]["name"], "Asha");
}

#[tokio::test]
async fn the_android_app_uploads_a_profile_photo_contacts_see_it_and_can_remove_it() {
    let t = files_app().await;
    let (me, friend) = (random_indian(), random_indian());
    let friend_token = t.sign_in(friend.e164()).await;
    let signed = android_sign_in(&t, &me).await;
    let token = signed["token"].as_str().unwrap().to_owned();
    let download_base = signed["urls"]["download"].as_str().unwrap().to_owned();
    let friend_sync =
        HttpCall::post(API).form(&[("op", "getcontacts"), ("token", &friend_token), ("phones", me.digits())]);
    t.call(friend_sync).await;

    // `setProfilePicture`: multipart, the JPEG the app wrote as `myProfile.jpg`, in the part `photo`.
    let jpeg = camera_jpeg();
    assert!(has_gps(&jpeg));
    let fields =
        [("op", "upload"), ("token", token.as_str()), ("mid", "0"), ("profile", "1"), ("gid", "0"), ("dt", DT)];
    let upload =
        t.call(HttpCall::post(API).multipart(&fields, &[("photo", "myProfile.jpg", "image/jpeg", &jpeg)])).await;
    let answer = ok(&upload).clone();
    let photo = answer["photo"].as_str().unwrap().to_owned();
    assert!(!photo.is_empty() && !photo.contains('/'), "a bare file name: the app uses it as a local file name too");
    assert_eq!((answer["profile"].as_u64(), answer["gid"].as_u64()), (Some(1), Some(0)));
    assert_eq!(answer["phone"], me.digits(), "the app sets its own profile from this answer");
    let tn = base64::engine::general_purpose::STANDARD.decode(answer["tn"].as_str().unwrap()).unwrap();
    let thumbnail = image::load_from_memory_with_format(&tn, image::ImageFormat::Jpeg).expect("tn is a JPEG");
    assert_eq!((thumbnail.width(), thumbnail.height()), (100, 100));
    assert!(tn.len() > 100, "the iOS app ignores a thumbnail of 100 bytes or less");

    // Downloaded as the apps build the URL: urls.download + photo. Re-encoded: no GPS left.
    let stored = download(&t, &format!("{download_base}{photo}")).await;
    let picture = image::load_from_memory_with_format(&stored, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((picture.width(), picture.height()), (1280, 960));
    assert!(!has_gps(&stored));

    // The friend sees the new photo and its thumbnail in their next delta.
    t.clock.advance(120);
    let delta = t.call(HttpCall::post(API).form(&[("op", "getcontacts"), ("token", &friend_token), ("ts", "1")])).await;
    let delta = ok(&delta).clone();
    let entry =
        delta["contacts"].as_array().unwrap().iter().find(|c| c["phone"] == me.digits()).expect("me in the delta");
    assert_eq!((entry["photo"].as_str(), entry["tn"].as_str()), (Some(photo.as_str()), answer["tn"].as_str()));

    // A new photo replaces the old one, whose file goes.
    let second =
        t.call(HttpCall::post(API).multipart(&fields, &[("photo", "myProfile.jpg", "image/jpeg", &jpeg)])).await;
    let second_photo = ok(&second)["photo"].as_str().unwrap().to_owned();
    assert_ne!(second_photo, photo);
    // (Asked of the bucket itself: moto answers a signed link with response overrides to a missing object 403.)
    let bucket = t.app.config.files.as_ref().unwrap().bucket.clone();
    let s3 = shared::app::s3_client(&shared::app::sdk_config().await);
    let gone = s3.head_object().bucket(bucket).key(format!("photos/{photo}")).send().await;
    assert!(
        gone.is_err_and(|e| e.raw_response().is_some_and(|r| r.status().as_u16() == 404)),
        "the replaced photo's file is deleted"
    );

    // delete=1 without a file: the photo is cleared.
    let removed = t.call(form(&[
        ("op", "upload"),
        ("token", &token),
        ("mid", "0"),
        ("profile", "1"),
        ("gid", "0"),
        ("delete", "1"),
        ("dt", DT),
    ]));
    let removed = ok(&removed.await).clone();
    assert_eq!((removed["photo"].as_str(), removed["tn"].as_str()), (Some(""), Some("")));
}

#[tokio::test]
async fn a_group_with_a_picture_is_created_as_the_apps_send_it() {
    let t = files_app().await;
    let (me, friend, abroad) = (random_indian(), random_indian(), random_phone());
    let token = android_sign_in(&t, &me).await["token"].as_str().unwrap().to_owned();
    // The app picks members among the users of the phone book it synced (a group takes only those).
    for user in [&friend, &abroad] {
        let profile = shared::model::profile::Profile::new(
            user.clone(),
            "member".into(),
            shared::Clock::now(t.clock.as_ref()),
            None,
        );
        t.app.store.put_profile(&profile).await.unwrap();
    }
    let book = [friend.digits(), abroad.digits()].join(",");
    let synced = t.call(form(&[("op", "getcontacts"), ("token", &token), ("ts", "0"), ("phones", &book), ("dt", DT)]));
    ok(&synced.await);
    // Android's setGroup: name, gid 0, status, m (country code + digits, one of them foreign), the picture in the
    // same multipart request. Before: BADPHONE for the foreign member, and op "" for the multipart body.
    let members = format!("{},{}", friend.digits(), abroad.digits());
    let fields = [
        ("op", "setgroup"),
        ("token", token.as_str()),
        ("name", "Trek"),
        ("gid", "0"),
        ("status", ""),
        ("m", members.as_str()),
        ("dt", DT),
    ];
    let created =
        t.call(HttpCall::post(API).multipart(&fields, &[("photo", "group.jpg", "image/jpeg", &camera_jpeg())])).await;
    let group = ok(&created).clone();
    let gid = ios_reads_group_reply(&created).unwrap();
    let listed = group["members"].as_str().unwrap();
    assert!(listed.contains(me.digits()), "the apps show a group without their own number as left: {listed}");
    assert!(listed.contains(abroad.digits()) && listed.contains(friend.digits()));
    assert!(!group["photo"].as_str().unwrap().is_empty() && group["tn"].as_str().unwrap().len() > 100);

    // The members string, sent back as `m`, names the same people (the caller in it is no error).
    let numbers = listed.split_once(':').unwrap().1;
    let edited = t.call(form(&[
        ("op", "editmembers"),
        ("token", &token),
        ("gid", &gid.to_string()),
        ("m", numbers),
        ("dt", DT),
    ]));
    assert_eq!(ok(&edited.await)["members"], listed);

    // Android removes a group's photo with `upload`, profile=1, the gid and delete=1: answered with profile 0, so
    // the app does not take the group for its own profile.
    let removed = t.call(form(&[
        ("op", "upload"),
        ("token", &token),
        ("mid", "0"),
        ("profile", "1"),
        ("gid", &gid.to_string()),
        ("delete", "1"),
        ("dt", DT),
    ]));
    let removed = ok(&removed.await).clone();
    assert_eq!(
        (removed["profile"].as_u64(), removed["gid"].as_u64(), removed["photo"].as_str()),
        (Some(0), Some(gid), Some(""))
    );
    let fetched = t.call(form(&[("op", "getgroup"), ("token", &token), ("gid", &gid.to_string())])).await;
    assert_eq!(ok(&fetched)["photo"], "");
}

#[tokio::test]
async fn chat_attachments_go_to_urls_upload_and_come_back_by_url() {
    let t = files_app().await;
    let me = random_indian();
    let signed = android_sign_in(&t, &me).await;
    let token = signed["token"].as_str().unwrap().to_owned();
    // MesiboFileTransferHelper: to urls.upload, op/token/mid/profile=0, the file in the part `photo`, no dt.
    let upload_path = signed["urls"]["upload"].as_str().unwrap().split_once("127.0.0.1").unwrap().1.to_owned();
    let fields = [("op", "upload"), ("token", token.as_str()), ("mid", "1764140000123"), ("profile", "0")];
    let jpeg = camera_jpeg();
    let sent =
        t.call(HttpCall::post(&upload_path).multipart(&fields, &[("photo", "IMG_20211103.jpg", "image/jpeg", &jpeg)]));
    let sent = sent.await;
    let url = ok(&sent)["file"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http"), "a full URL: the receiver's app uses it as it is");
    let stored = download(&t, &url).await;
    assert!(image::load_from_memory(&stored).is_ok() && !has_gps(&stored), "a picture, without its GPS");

    // A PDF is kept as sent; an executable renamed .jpg is refused by its content.
    let pdf = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n".to_vec();
    let sent =
        t.call(HttpCall::post(&upload_path).multipart(&fields, &[("photo", "ticket.pdf", "application/pdf", &pdf)]));
    let url = ok(&sent.await)["file"].as_str().unwrap().to_owned();
    assert!(url.ends_with(".pdf"));
    assert_eq!(download(&t, &url).await, pdf);
    let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
    let refused =
        t.call(HttpCall::post(&upload_path).multipart(&fields, &[("photo", "cat.jpg", "image/jpeg", &exe)])).await;
    assert_eq!((refused.status, refused.error()), (200, "BADFILETYPE"), "api.php always answers 200");
    assert!(android_reads(&refused).is_ok());
}

#[tokio::test]
async fn large_files_go_straight_to_storage_and_are_checked_on_arrival() {
    let t = files_app().await;
    let me = t.sign_in(random_phone().e164()).await;
    let size = 5 * 1024 * 1024;
    let started = t.call(HttpCall::post("/upload").form(&[("size", &size.to_string())]).bearer(&me)).await;
    assert_eq!(started.status, 200, "{:?}", started.json);
    let upload = &started.json["upload"];
    let mut video = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom".to_vec();
    video.resize(size, 7);
    // The size is part of the signature, so S3 refuses a PUT of any other size (moto does not check signatures:
    // that the length is signed is checked here instead).
    let url = upload["url"].as_str().unwrap();
    let signed = url.split("X-Amz-SignedHeaders=").nth(1).unwrap_or_default().split('&').next().unwrap_or_default();
    assert!(signed.contains("content-length"), "{url}");
    assert_eq!(presigned_put(upload, &video).await, 200, "the presigned PUT is accepted");
    let uploaded = started.json["uploaded"].as_str().unwrap();
    let done = t.call(HttpCall::post("/upload").form(&[("uploaded", uploaded)]).bearer(&me)).await;
    assert_eq!(done.status, 200, "{:?}", done.json);
    let url = done.json["file"].as_str().unwrap();
    assert!(url.ends_with(".mp4"), "{url}");
    assert_eq!(download(&t, url).await.len(), size);
    let again = t.call(HttpCall::post("/upload").form(&[("uploaded", uploaded)]).bearer(&me)).await;
    assert_eq!((again.status, again.error()), (404, "NOTFOUND"), "a direct upload is stored once");

    let too_big = t.call(HttpCall::post("/upload").form(&[("size", &(200u64 << 20).to_string())]).bearer(&me)).await;
    assert_eq!((too_big.status, too_big.error()), (413, "TOOLARGE"));
    let oversized_body = vec![0u8; 5 * 1024 * 1024];
    let direct = t
        .call(
            HttpCall::post("/upload")
                .multipart(&[("token", &me)], &[("photo", "a.bin", "application/octet-stream", &oversized_body)]),
        )
        .await;
    assert_eq!((direct.status, direct.error()), (413, "TOOLARGE"), "files over 4 MiB do not pass through a function");
}

#[tokio::test]
async fn photos_and_names_that_are_not_ours_are_refused() {
    let t = files_app().await;
    let me = t.sign_in(random_phone().e164()).await;
    let not_a_picture = t
        .call(
            HttpCall::post("/profile")
                .multipart(&[("token", &me)], &[("photo", "me.jpg", "image/jpeg", b"%PDF-1.7\n")]),
        )
        .await;
    assert_eq!((not_a_picture.status, not_a_picture.error()), (400, "BADIMAGE"));
    for name in [
        "p1-abc.jpg",
        "x.jpg",
        "%2e%2e",
        "p1764140000-9f86d081884c7d659a2feaa0c55ad015.exe",
        "a1764140000-9F86D081884C7D659A2FEAA0C55AD015.pdf",
    ] {
        let reply = t.call(HttpCall { method: "GET".into(), ..HttpCall::post(&format!("/files/{name}")) }).await;
        assert_eq!((reply.status, reply.error()), (404, "NOTFOUND"), "{name}");
    }
    // The refused photo changed nothing.
    let own = t.call(HttpCall::post("/getcontacts").bearer(&me)).await;
    assert_eq!((own.json["u"]["photo"].as_str(), own.json["u"]["tn"].as_str()), (Some(""), Some("")));
}

#[tokio::test]
async fn uploads_per_user_are_limited_before_any_is_stored() {
    let t = spawn_app_with(&[("UPLOADS_PER_HOUR", "2"), ("UPLOAD_URL", ""), ("FILE_URL", "")]).await;
    let me = t.sign_in(random_phone().e164()).await;
    let pdf = b"%PDF-1.7\n%%EOF\n".to_vec();
    let send =
        || HttpCall::post("/upload").multipart(&[("token", &me)], &[("photo", "a.pdf", "application/pdf", &pdf)]);
    let replies = futures::future::join_all((0..4).map(|_| t.call(send()))).await;
    let stored: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(stored.len(), 2, "{replies:?}");
    assert!(
        replies
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.error() == "RATELIMIT" && r.headers.contains_key("retry-after"))
    );
    // Photos count too, wherever they are sent.
    let photo = camera_jpeg();
    let profile = HttpCall::post("/profile").multipart(&[("token", &me)], &[("photo", "me.jpg", "image/jpeg", &photo)]);
    assert_eq!(t.call(profile).await.error(), "RATELIMIT");
    // Asking without a file costs nothing.
    let no_file = t.call(HttpCall::post("/upload").form(&[("profile", "0")]).bearer(&me)).await;
    assert_eq!(no_file.error(), "MISSINGFILE");
}

/// A photo change is a profile change like a text one: the stream carries it to the notifier, which tells every
/// contact (`profile_updated` with the new photo's name).
#[tokio::test]
async fn an_uploaded_photo_reaches_contacts_as_profile_updated() {
    use shared::adapters::sns::SnsEvents;
    let sdk = shared::app::sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns.create_topic().name(format!("photo-{}", random_hex(6))).send().await.unwrap().topic_arn.unwrap();
    let t = spawn_app_with(&[("CONTACT_EVENTS_TOPIC_ARN", &topic), ("UPLOAD_URL", ""), ("FILE_URL", "")]).await;
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut poller = local_stack::stream::StreamPoller::new(&t.dynamodb, streams, t.app.store.table()).await.unwrap();
    let (ada, bob) = (random_phone(), random_phone());
    let ada_token = t.sign_in(ada.e164()).await;
    let bob_token = t.sign_in(bob.e164()).await;
    t.call(HttpCall::post("/getcontacts").form(&[("phones", ada.digits())]).bearer(&bob_token)).await;
    poller.poll().await.unwrap();

    t.clock.advance(60);
    let jpeg = camera_jpeg();
    let fields = [("token", ada_token.as_str()), ("profile", "1")];
    let uploaded =
        t.call(HttpCall::post("/upload").multipart(&fields, &[("photo", "me.jpg", "image/jpeg", &jpeg)])).await;
    let photo = ok(&uploaded)["photo"].as_str().unwrap().to_owned();
    let sink = RecordingSink::new(SnsEvents::new(t.app.sns_client(), topic));
    let event = poller.poll().await.unwrap();
    assert!(
        shared::edge::stream::handle(&t.app, &sink, &t.fanout_queue().await, event)
            .await
            .batch_item_failures
            .is_empty()
    );
    let told: Vec<_> = sink.events().into_iter().filter(|e| e.kind == "profile_updated").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0].to.as_str(), told[0].photo.as_deref()), (bob.digits(), Some(photo.as_str())));
}
