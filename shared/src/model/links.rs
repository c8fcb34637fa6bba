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
#[derive(Debug, Serialize)]
pub struct Links {
    pub uploadurl: String,
    pub downloadurl: String,
    pub fileurl: String,
    pub urls: Urls,
    pub invite: String,
    pub share: Share,
}

#[derive(Debug, Serialize)]
pub struct Urls {
    pub upload: String,
    pub download: String,
}

#[derive(Debug, Serialize)]
pub struct Share {
    pub text: String,
    pub subject: String,
    pub title: String,
}

impl Links {
    pub fn from_config(urls: &ProfileUrls) -> Self {
        Self {
            uploadurl: urls.upload_url.clone(),
            downloadurl: urls.download_url.clone(),
            fileurl: urls.file_url.clone(),
            urls: Urls { upload: urls.upload_url.clone(), download: urls.file_url.clone() },
            invite: urls.invite_text.clone(),
            share: Share {
                text: urls.invite_text.clone(),
                subject: urls.share_subject.clone(),
                title: urls.share_title.clone(),
            },
        }
    }
}
