//! The `account` Lambda: POST /profile, /logout, /delcontacts, /deleteaccount and /setnotify, a signed-in person's
//! own account.

use domain::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    domain::edge::lambda::serve_http(&[
        Operation::Profile,
        Operation::Logout,
        Operation::DelContacts,
        Operation::DeleteAccount,
        Operation::SetNotify,
    ])
    .await
}
