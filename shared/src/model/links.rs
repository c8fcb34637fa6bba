//! The URLs and texts mesibo clients expect beside a profile, from configuration.

use serde::Serialize;

/// The configured texts and URLs (UPLOAD_URL, INVITE_TEXT, …).
#[derive(Clone, Debug)]
pub struct ProfileUrls {
    /// mesibo clients read a Google API key (`google`) at sign-in; empty unless GOOGLE_API_KEY is set.
    pub google_api_key: String,
    pub upload_url: String,
    pub download_url: String,
    pub file_url: String,
    pub invite_text: String,
    pub share_subject: String,
    pub share_title: String,
}

/// Upload/download locations and sharing texts, from configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub uploadurl: String,
    pub downloadurl: String,
    pub fileurl: String,
    pub urls: Urls,
    pub invite: String,
    pub share: Share,
}

#[derive(Debug, Clone, Serialize)]
pub struct Urls {
    pub upload: String,
    pub download: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub text: String,
    pub subject: String,
    pub title: String,
}

impl Links {
    /// The configured URLs; where one is not configured and this deployment stores files (`here` is its public
    /// address as the request reached it, stage included), this deployment's own: uploads go to its `api.php`
    /// (where mesibo's apps post attachments), downloads to its `/files/` (clients append the file's name).
    pub fn new(urls: &ProfileUrls, here: Option<&str>) -> Self {
        let or_here = |configured: &String, path: &str| match here {
            Some(here) if configured.is_empty() => format!("{}{path}", here.trim_end_matches('/')),
            _ => configured.clone(),
        };
        let upload = or_here(&urls.upload_url, "/api.php");
        let files = or_here(&urls.file_url, "/files/");
        Self {
            uploadurl: upload.clone(),
            downloadurl: or_here(&urls.download_url, "/files/"),
            fileurl: files.clone(),
            urls: Urls { upload, download: files },
            invite: urls.invite_text.clone(),
            share: Share {
                text: urls.invite_text.clone(),
                subject: urls.share_subject.clone(),
                title: urls.share_title.clone(),
            },
        }
    }

    /// Where a stored file is downloaded from (mesibo's apps build the same: `urls.download` + name).
    pub fn download_url(&self, name: &str) -> String {
        format!("{}{name}", self.urls.download)
    }
}
