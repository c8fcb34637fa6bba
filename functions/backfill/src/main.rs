//! The `backfill` Lambda, invoked by the operator: rewrites address-book entries into keyed names (and the expiry
//! retention asks for), until its deadline; invoked again, it resumes (README, "Upgrading: the address-book backfill").

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::edge::lambda::serve_backfill().await
}
