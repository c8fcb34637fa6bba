//! The `account` Lambda: POST /profile, /logout, /delcontacts, /deleteaccount, /setnotify and /export, a signed-in person's
//! own account.

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(
        Operation::Profile,
        Operation::Logout,
        Operation::DelContacts,
        Operation::DeleteAccount,
        Operation::SetNotify,
        Operation::Export,
    )
    .await
}
