//! The `groups` Lambda: POST /setgroup, /editmembers, /setadmin and /delgroup, GET|POST /getgroup.

use shared::edge::routes::Operation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::serve_http!(
        Operation::SetGroup,
        Operation::EditMembers,
        Operation::SetAdmin,
        Operation::DelGroup,
        Operation::GetGroup,
    )
    .await
}
